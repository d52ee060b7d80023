"""The voicemail rota (rules §2): who is on duty, and when the companies listen. No Asterisk here.

    rota = load_rota("rota.yaml")                      # RotaError: one line, file:line: key: ...
    duty(rota, "jingan", date(2026, 10, 8)).agent      # Agent | None, with turn_of, skipped, reason
    listenings(rota, date(2026, 10, 8))                # [Listening(company_id, round_no, index, at)]
    next_listenings(rota, after, until)                # after < at <= until
    holder = RotaHolder(path); holder.load(); holder.reload(); await holder.watch()  # until cancelled
"""

from pbx_bridge.rota.calendar import china_coverage, is_working_day
from pbx_bridge.rota.duty import Duty, duties, duty
from pbx_bridge.rota.holder import RotaHolder
from pbx_bridge.rota.load import DEFAULT_ROTA_PATH, ROTA_ENV, RotaError, default_rota_path, load_rota
from pbx_bridge.rota.model import Agent, Company, Rota, hash_pin, verify_pin
from pbx_bridge.rota.schedule import Listening, listenings, next_listenings

__all__ = [
    "Agent", "Company", "DEFAULT_ROTA_PATH", "Duty", "Listening", "ROTA_ENV", "Rota", "RotaError", "RotaHolder",
    "china_coverage", "default_rota_path", "duties", "duty", "hash_pin", "is_working_day", "listenings",
    "load_rota", "next_listenings", "verify_pin",
]

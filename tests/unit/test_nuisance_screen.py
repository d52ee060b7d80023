"""Is this number screened now? Warnings within the window, the screen's length, lifts, admins'
screens, the admins' file and its never-screen list."""

from datetime import datetime, timedelta, timezone

from pbx_bridge.nuisance.model import AdminScreen, Lift, Listed, Rules, evaluate, normalise

T0 = datetime(2026, 11, 2, 3, 0, tzinfo=timezone.utc)
RULES = Rules(warnings_to_screen=2, window=timedelta(days=30), screen_for=timedelta(days=7))
N = "13800138000"


def at(days=0.0, hours=0.0):
    return T0 + timedelta(days=days, hours=hours)


def screen_at(now, warnings=(), admin=(), lifts=(), listed=(), never=(), rules=RULES, number=N):
    state = evaluate(warnings, admin, lifts, listed, never, rules, now).get(number)
    return state.screen if state is not None else None


def test_two_warnings_within_the_window_screen_for_screen_for_from_the_last():
    warnings = [(N, at(0)), (N, at(20))]
    assert screen_at(at(19), warnings) is None, "one warning alone does not screen"
    screen = screen_at(at(20, hours=1), warnings)
    assert screen.source == "warnings" and screen.since == at(20) and screen.until == at(27)
    assert screen.reason == "2 warnings within 30d"
    assert screen_at(at(26.9), warnings) is not None
    assert screen_at(at(27), warnings) is None, "released when screen_for has passed"


def test_warnings_further_apart_than_the_window_do_not_screen():
    assert screen_at(at(31), [(N, at(0)), (N, at(31))]) is None


def test_a_third_warning_while_screened_extends_the_screen_from_the_same_start():
    warnings = [(N, at(0)), (N, at(1)), (N, at(5))]
    screen = screen_at(at(6), warnings)
    assert screen.since == at(1) and screen.until == at(12)
    assert screen.reason == "3 warnings within 30d"


def test_warnings_to_screen_zero_never_screens_by_warnings():
    rules = Rules(0, RULES.window, RULES.screen_for)
    assert screen_at(at(1), [(N, at(0)), (N, at(0.5))], rules=rules) is None


def test_three_warnings_needed_when_so_configured():
    rules = Rules(3, RULES.window, RULES.screen_for)
    assert screen_at(at(2), [(N, at(0)), (N, at(1))], rules=rules) is None
    assert screen_at(at(3), [(N, at(0)), (N, at(1)), (N, at(2))], rules=rules).until == at(9)


def test_a_lift_ends_the_screen_and_the_earlier_warnings_no_longer_count():
    warnings = [(N, at(0)), (N, at(1))]
    lifts = [Lift(N, at(2), "apologised", "admin")]
    assert screen_at(at(3), warnings, lifts=lifts) is None
    # one new warning after the lift is the first one again
    assert screen_at(at(4), warnings + [(N, at(3.5))], lifts=lifts) is None
    # two new ones screen again
    again = screen_at(at(5), warnings + [(N, at(3.5)), (N, at(4.5))], lifts=lifts)
    assert again is not None and again.since == at(4.5)


def test_an_admin_screen_holds_until_its_end_or_a_lift():
    admin = [AdminScreen(N, at(0), at(3), "abusive", "lead")]
    assert screen_at(at(1), admin=admin).source == "admin"
    assert screen_at(at(3), admin=admin) is None
    permanent = [AdminScreen(N, at(0), None, "threats", "lead")]
    assert screen_at(at(400), admin=permanent).until is None
    assert screen_at(at(401), admin=permanent, lifts=[Lift(N, at(400.5), "ok", "lead")]) is None
    # a screen made after the lift holds
    later = permanent + [AdminScreen(N, at(402), at(410), "again", "lead")]
    assert screen_at(at(403), admin=later, lifts=[Lift(N, at(400.5), "ok", "lead")]).reason == "again"


def test_the_longest_screen_in_force_is_shown():
    warnings = [(N, at(0)), (N, at(1))]
    admin = [AdminScreen(N, at(1), at(3), "short", "lead")]
    assert screen_at(at(2), warnings, admin=admin).source == "warnings"  # until day 8
    admin = [AdminScreen(N, at(1), None, "permanent", "lead")]
    assert screen_at(at(2), warnings, admin=admin).source == "admin"


def test_the_file_screens_while_listed_and_a_lift_does_not_undo_it():
    listed = [Listed(N, None, "threats", "screening.yaml:3")]
    screen = screen_at(at(1), listed=listed, lifts=[Lift(N, at(0.5), "ok", "lead")])
    assert screen.source == "file" and screen.reason == "threats (screening.yaml:3)"
    dated = [Listed(N, at(10), "fax", "screening.yaml:5")]
    assert screen_at(at(9), listed=dated) is not None and screen_at(at(10), listed=dated) is None


def test_never_screen_wins_over_warnings_and_admin_screens():
    states = evaluate([(N, at(0)), (N, at(1))], [AdminScreen(N, at(0), None, "x", "lead")], [], [], {N}, RULES, at(2))
    assert states[N].screen is None and states[N].state == "never-screen"
    assert states[N].warnings == 2, "the warnings are still on record"


def test_numbers_are_compared_without_separators_and_anonymous_callers_are_never_screened():
    assert normalise("138-0013 8000") == N and normalise("(021) 6000.0002") == "02160000002"
    for nobody in ("", None, "unknown", "Anonymous", "restricted"):
        assert normalise(nobody) is None
    states = evaluate([("", at(0)), ("", at(1))], [], [], [], (), RULES, at(2))
    assert states == {}


def test_states_for_the_admins_listing():
    warnings = [("1", at(0)), ("1", at(1)), ("2", at(0)), ("3", at(0)), ("3", at(0.5))]
    lifts = [Lift("3", at(0.7), "ok", "lead")]
    states = evaluate(warnings, [], lifts, [], (), RULES, at(2))
    assert {n: s.state for n, s in states.items()} == {"1": "screened", "2": "warned", "3": "lifted"}
    states = evaluate(warnings, [], lifts, [], (), RULES, at(9))
    assert states["1"].state == "released" and states["1"].latest.until == at(8)

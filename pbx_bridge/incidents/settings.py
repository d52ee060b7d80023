"""The `incidents:` section: what opens an incident, how soon, and how its trend is sampled.

The service level's target and "timely" threshold are the reports' own (`reports.targets.timely_rate`,
`reports.timely_threshold_s`): one standard, whether read in the monthly report or live.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from pbx_bridge.settings import Strict


class IncidentsConfig(Strict):
    """Incidents and recovery (rules §8): see pbx_bridge/incidents and docs/incidents.md."""

    enabled: bool = True
    check_interval: float = Field(default=2, gt=0, le=60, description="s between two looks at the daemon's health")
    open_after_s: float = Field(default=5, ge=0, le=3600,
                                description="s a condition must hold before it opens an incident (no flapping)")
    close_after_s: float = Field(default=30, ge=0, le=3600,
                                 description="s a condition must be gone before its incident closes")
    long_wait_s: float = Field(default=600, gt=0, le=86400, description="a caller waiting this long opens an incident")
    service_level_window_s: float = Field(default=1800, ge=60, le=86400,
                                          description="the service level is of the calls that ended this far back")
    service_level_min_calls: int = Field(default=5, ge=1, le=10000,
                                         description="fewer finished calls in the window: no service-level incident")
    sample_interval_s: float = Field(default=60, gt=0, le=3600, description="s between two samples of the trend")
    max_samples: int = Field(default=240, ge=2, le=10000, description="samples kept per incident (first and latest)")
    attribute_after_s: float = Field(default=600, ge=0, le=86400,
                                     description="s after an incident closes during which late records still count")
    ami_lookback_s: float = Field(default=5, ge=0, le=300,
                                  description="calls that ended this long before AMI was lost count as affected "
                                              "(Asterisk hangs up its calls as it stops, before AMI closes)")
    shift_hours_only: bool = Field(default=True,
                                   description="no-agent and all-paused incidents only within the rota's shift hours")

    @model_validator(mode="after")
    def _consistent(self) -> "IncidentsConfig":
        if self.sample_interval_s < self.check_interval:
            raise ValueError(f"sample_interval_s ({self.sample_interval_s:g}) is shorter than check_interval "
                             f"({self.check_interval:g}): a sample is taken at a check")
        return self


# this room's sections of the configuration, by key (config.py assembles every room's)
SECTIONS = {"incidents": IncidentsConfig}

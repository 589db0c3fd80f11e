"""The deployed functions' IAM roles: the API reads only; the hourly run cannot write models."""

from __future__ import annotations

from pathlib import Path

import yaml

SERVERLESS = Path(__file__).parents[1] / "deploy" / "serverless.yml"


def _statements(config: dict, role: str) -> list[dict]:
    policies = config["resources"]["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_each_function_has_its_own_role_and_no_shared_one():
    config = yaml.safe_load(SERVERLESS.read_text())
    assert "iam" not in config["provider"]  # a provider role would be shared by both functions
    assert config["functions"]["api"]["role"] == "ApiRole"
    assert config["functions"]["hourly"]["role"] == "HourlyRole"


def test_the_api_role_only_reads():
    config = yaml.safe_load(SERVERLESS.read_text())
    actions = {a for s in _statements(config, "ApiRole") for a in _actions(s)}
    assert actions == {"s3:GetObject", "s3:ListBucket"}
    assert all(s["Effect"] == "Allow" for s in _statements(config, "ApiRole"))


def test_the_hourly_role_writes_its_outputs_but_no_model():
    config = yaml.safe_load(SERVERLESS.read_text())
    writes = [s for s in _statements(config, "HourlyRole") if "s3:PutObject" in _actions(s)]
    resources = [r for s in writes for r in s["Resource"]]
    assert resources and all(r.split("}/", 2)[-1].split("/")[0] != "06_models" for r in resources)
    assert {r.rsplit("/", 2)[-2] for r in resources} == {
        "04_feature",
        "07_model_output",
        "08_reporting",
    }
    actions = {a for s in _statements(config, "HourlyRole") for a in _actions(s)}
    assert not any("Delete" in a or a == "s3:*" for a in actions)

"""Terraform: every file parses, and the production safety settings hold.

Providers cannot be downloaded here, so `terraform validate` cannot run; these tests read the HCL
with python-hcl2 and check what matters: the prod environment's inputs and the module code those
inputs flow into (Multi-AZ, backups, deletion protection, encryption, no public database, TLS,
MSK replication)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

TF = ROOT / "terraform"


def _norm(node: Any) -> Any:
    """python-hcl2 keeps quotes around labels and strings; drop them and its bookkeeping keys."""
    if isinstance(node, dict):
        return {
            _unquote(k): _norm(v)
            for k, v in node.items()
            if k not in ("__is_block__", "__comments__")
        }
    if isinstance(node, list):
        return [_norm(v) for v in node]
    if isinstance(node, str):
        return _unquote(node)
    return node


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def _load(hcl2: Any, path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        result: dict[str, Any] = _norm(hcl2.load(fh))
    return result


def _module_dir(hcl2: Any, directory: Path) -> dict[str, Any]:
    """All blocks of a module directory: resource[type][name], variable, module, locals."""
    out: dict[str, Any] = {"resource": {}, "variable": {}, "module": {}, "data": {}, "locals": {}}
    for path in sorted(directory.glob("*.tf")):
        doc = _load(hcl2, path)
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                out["resource"].setdefault(rtype, {}).update(named)
        for key in ("variable", "module"):
            for block in doc.get(key, []):
                out[key].update(block)
        for block in doc.get("locals", []):
            out["locals"].update(block)
    return out


def _one(block: Any) -> dict[str, Any]:
    """A nested block: python-hcl2 gives a list of one dict."""
    if isinstance(block, list):
        assert len(block) == 1
        block = block[0]
    assert isinstance(block, dict)
    return block


def _assert_customer_key(mod: dict[str, Any], ref: str) -> None:
    """The reference is the ARN of the module's own customer key, made by modules/kms (rotated)."""
    assert ref == "${module.kms.arn}", ref
    assert mod["module"]["kms"]["source"] == "../kms"


@pytest.fixture(scope="module")
def hcl(hcl2_module: Any) -> Any:
    return hcl2_module


@pytest.fixture(scope="module")
def prod(hcl: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = _module_dir(hcl, TF / "environments" / "prod")["module"]["platform"]
    return inputs


def test_every_file_parses(hcl: Any) -> None:
    files = sorted(TF.rglob("*.tf"))
    assert len(files) > 30
    for path in files:
        assert isinstance(_load(hcl, path), dict), path


def test_environments_use_remote_state(hcl: Any) -> None:
    for env in ("global", "dev", "staging", "prod"):
        doc = _load(hcl, TF / "environments" / env / "backend.tf")
        backend = _one(doc["terraform"])["backend"]
        s3 = _one(backend)["s3"]
        assert s3["key"] == f"environments/{env}/terraform.tfstate"
    bootstrap = _module_dir(hcl, TF / "bootstrap")["resource"]
    assert "aws_dynamodb_table" in bootstrap and "aws_s3_bucket_versioning" in bootstrap
    example = (TF / "backend.hcl.example").read_text("utf-8")
    assert "dynamodb_table" in example and "encrypt        = true" in example


def test_prod_inputs_are_safe(prod: dict[str, Any]) -> None:
    assert prod["environment"] == "prod"
    assert prod["rds_multi_az"] is True
    assert prod["rds_backup_retention_days"] >= 30
    assert prod["rds_deletion_protection"] is True
    assert prod["rds_skip_final_snapshot"] is False
    assert prod["single_nat_gateway"] is False
    assert prod["kafka_auth"] in ("iam", "scram")
    assert len(prod["azs"]) == 3


def test_platform_passes_the_safety_inputs_through(hcl: Any) -> None:
    platform = _module_dir(hcl, TF / "modules" / "platform")
    rds = platform["module"]["rds"]
    assert rds["multi_az"] == "${var.rds_multi_az}"
    assert rds["backup_retention_days"] == "${var.rds_backup_retention_days}"
    assert rds["deletion_protection"] == "${var.rds_deletion_protection}"
    assert rds["skip_final_snapshot"] == "${var.rds_skip_final_snapshot}"
    assert rds["engine_version"] == "15"
    assert platform["module"]["eks"]["kubernetes_version"] == "1.33"
    msk = platform["module"]["msk"]
    assert msk["kafka_version"].startswith("4.1.")
    variables = platform["variable"]
    assert variables["rds_multi_az"]["default"] is True
    assert variables["rds_deletion_protection"]["default"] is True
    assert variables["rds_skip_final_snapshot"]["default"] is False
    assert variables["rds_backup_retention_days"]["default"] >= 30


def test_rds_module(hcl: Any) -> None:
    mod = _module_dir(hcl, TF / "modules" / "rds")
    db = mod["resource"]["aws_db_instance"]["this"]
    assert db["engine"] == "postgres"
    assert db["storage_encrypted"] is True
    _assert_customer_key(mod, db["kms_key_id"])
    assert db["publicly_accessible"] is False
    assert db["manage_master_user_password"] is True, "no password in the Terraform state"
    assert db["performance_insights_enabled"] is True
    _assert_customer_key(mod, db["performance_insights_kms_key_id"])
    assert db["final_snapshot_identifier"]
    assert db["multi_az"] == "${var.multi_az}"
    assert db["deletion_protection"] == "${var.deletion_protection}"
    assert db["copy_tags_to_snapshot"] is True
    assert db["iam_database_authentication_enabled"] is True
    params = mod["resource"]["aws_db_parameter_group"]["this"]["parameter"]
    assert {"name": "rds.force_ssl", "value": "1"} in params, "TLS enforced"
    assert mod["variable"]["engine_version"]["default"] == "15"
    for name in ("multi_az", "deletion_protection"):
        assert mod["variable"][name]["default"] is True
    assert mod["variable"]["skip_final_snapshot"]["default"] is False
    assert mod["variable"]["backup_retention_days"]["default"] >= 30
    rules = mod["resource"]["aws_vpc_security_group_ingress_rule"]["postgres"]
    assert "cidr_ipv4" not in rules and rules["referenced_security_group_id"]


def test_msk_module(hcl: Any) -> None:
    mod = _module_dir(hcl, TF / "modules" / "msk")
    cluster = mod["resource"]["aws_msk_cluster"]["this"]
    assert cluster["number_of_broker_nodes"] == 3
    enc = _one(cluster["encryption_info"])
    _assert_customer_key(mod, enc["encryption_at_rest_kms_key_arn"])
    transit = _one(enc["encryption_in_transit"])
    assert transit["client_broker"] == "TLS" and transit["in_cluster"] is True
    auth = _one(cluster["client_authentication"])
    assert auth["unauthenticated"] is False
    broker = _one(cluster["broker_node_group_info"])
    public = _one(_one(broker["connectivity_info"])["public_access"])
    assert public["type"] == "DISABLED"
    assert _one(cluster["open_monitoring"])
    props = mod["resource"]["aws_msk_configuration"]["this"]["server_properties"]
    for setting in (
        "auto.create.topics.enable=false",
        "default.replication.factor=3",
        "min.insync.replicas=2",
        "unclean.leader.election.enable=false",
    ):
        assert setting in props
    assert mod["variable"]["kafka_version"]["default"] == "4.1.x.kraft"


def test_kafka_version_matches_local_and_compose() -> None:
    compose = (ROOT / "docker-compose.yml").read_text("utf-8")
    assert "image: apache/kafka:4.1.1" in compose
    local = ROOT / "scripts" / "localstack.py"
    if local.exists():
        versions = set(
            re.findall(
                r"kafka[_-]?(?:version)?\D{0,20}(4\.\d+\.\d+)", local.read_text("utf-8"), re.I
            )
        )
        assert not versions or versions == {"4.1.1"}, versions


def test_eks_module(hcl: Any) -> None:
    mod = _module_dir(hcl, TF / "modules" / "eks")
    cluster = mod["resource"]["aws_eks_cluster"]["this"]
    assert _one(cluster["encryption_config"])["resources"] == ["secrets"]
    _assert_customer_key(mod, _one(_one(cluster["encryption_config"])["provider"])["key_arn"])
    assert len(cluster["enabled_cluster_log_types"]) == 5
    assert _one(cluster["vpc_config"])["endpoint_private_access"] is True
    lt = mod["resource"]["aws_launch_template"]["node"]
    assert _one(lt["metadata_options"])["http_tokens"] == "required", "IMDSv2 only"
    ebs = _one(_one(lt["block_device_mappings"])["ebs"])
    assert ebs["encrypted"] is True
    assert "aws_iam_openid_connect_provider" in mod["resource"], "IRSA"
    validation = _one(mod["variable"]["public_access_cidrs"]["validation"])
    assert "0.0.0.0/0" in validation["condition"]


def test_ecr_module(hcl: Any) -> None:
    mod = _module_dir(hcl, TF / "modules" / "ecr")
    repo = mod["resource"]["aws_ecr_repository"]["this"]
    assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert _one(repo["image_scanning_configuration"])["scan_on_push"] is True
    assert _one(repo["encryption_configuration"])["encryption_type"] == "KMS"
    _assert_customer_key(mod, _one(repo["encryption_configuration"])["kms_key"])
    assert "aws_ecr_lifecycle_policy" in mod["resource"]


def test_kms_module(hcl: Any) -> None:
    """Every customer key (RDS, MSK, EKS, ECR, secrets, logs) comes from modules/kms: rotated, with
    the account-administration statement in its policy."""
    mod = _module_dir(hcl, TF / "modules" / "kms")
    key = mod["resource"]["aws_kms_key"]["this"]
    assert key["enable_key_rotation"] is True
    assert key["policy"] == "${data.aws_iam_policy_document.this.json}"
    doc = _load(hcl, TF / "modules" / "kms" / "main.tf")
    policies = {
        n: b for block in doc["data"] for n, b in block.get("aws_iam_policy_document", {}).items()
    }
    admin = policies["this"]["statement"][0]
    assert admin["sid"] == "AccountAdministration" and admin["actions"] == ["kms:*"]
    for name in ("rds", "msk", "eks", "ecr", "secrets-manager"):
        assert _module_dir(hcl, TF / "modules" / name)["module"]["kms"]["source"] == "../kms", name
    platform = _module_dir(hcl, TF / "modules" / "platform")["module"]
    assert platform["logs_kms"]["source"] == "../kms"


def test_networking_module(hcl: Any) -> None:
    mod = _module_dir(hcl, TF / "modules" / "networking")
    res = mod["resource"]
    assert res["aws_subnet"]["private"]["count"] == 3
    assert res["aws_subnet"]["public"]["map_public_ip_on_launch"] is False
    assert res["aws_flow_log"]["this"]["traffic_type"] == "ALL"
    assert res["aws_cloudwatch_log_group"]["flow_logs"]["kms_key_id"]
    assert "aws_default_security_group" in res


def test_no_ingress_from_anywhere(hcl: Any) -> None:
    for path in sorted(TF.rglob("*.tf")):
        text = path.read_text("utf-8")
        for match in re.finditer(
            r'resource "aws_(?:vpc_security_group_ingress_rule|security_group_rule)"', text
        ):
            body = text[match.end() : text.find("\n}\n", match.end())]
            assert "0.0.0.0/0" not in body, f"{path}: ingress open to the internet"


def test_secrets_never_hold_values(hcl: Any) -> None:
    for path in sorted(TF.rglob("*.tf")):
        text = path.read_text("utf-8")
        assert "aws_secretsmanager_secret_version" not in text, f"{path}: secret value in state"
        assert "random_password" not in text, f"{path}: generated password in state"
    mod = _module_dir(hcl, TF / "modules" / "secrets-manager")
    secrets = mod["resource"]["aws_secretsmanager_secret"]
    for secret in secrets.values():
        _assert_customer_key(mod, secret["kms_key_id"])
    scram = secrets["kafka_scram"]["name"]
    assert scram.startswith("AmazonMSK_"), "MSK only associates secrets named AmazonMSK_*"


def test_irsa_least_privilege(hcl: Any) -> None:
    text = (TF / "modules" / "irsa" / "main.tf").read_text("utf-8")
    assert '"kafka-cluster:*"' not in text and '"*"' not in text
    mod = _module_dir(hcl, TF / "modules" / "irsa")
    assume = (TF / "modules" / "irsa" / "main.tf").read_text("utf-8")
    assert "system:serviceaccount:${var.namespace}:" in assume
    assert "aws_iam_role" in mod["resource"]


def test_helm_values_output_asks_for_verified_database_tls(hcl: Any) -> None:
    outputs = _load(hcl, TF / "modules" / "platform" / "outputs.tf")["output"]
    values = next(o["helm_values"] for o in outputs if "helm_values" in o)
    assert values["value"]["database"]["sslMode"] == "verify-full"

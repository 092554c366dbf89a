# One IAM role per Kubernetes ServiceAccount (IRSA), each with only what its workload does:
#   collector   produce to oura.raw.* (idempotent producer; oura.raw.quarantine included; the
#               webhook fetcher's tombstones too), read oura.raw.quarantine without a group
#               (requeue-quarantine), consume oura.webhook.events in the fetcher's group
#   processor   consume oura.raw.* in its consumer group (PROCESSOR_GROUP_ID, myhealth-processor)
#               and commit its offsets, produce oura.trends.daily and oura.dlq, and tombstones
#               to oura.raw.* (a record of an erased account arriving late)
#   gateway     produce to oura.raw.* (collection triggered right after an Oura connect) and
#               oura.webhook.events (the webhook receiver); erasure reads a user's partition of
#               every compacted topic (no group) and produces its tombstones there
#   migrations  create and configure the oura.* topics; `stream_processor migrate-topics` also
#               deletes, reads and rewrites them and rewinds the processor's group
#   external-secrets  read this environment's secrets
# MSK IAM is used when KAFKA_SASL_MECHANISM=OAUTHBEARER; with SCRAM the Kafka permissions are
# simply unused.

locals {
  p        = var.topic_prefix
  topic    = var.msk_topic_arn_prefix
  group    = var.msk_group_arn_prefix
  group_id = "${local.p}myhealth-processor"
  fetcher  = "${local.p}myhealth-webhook-fetcher"
  # Compacted topics: erasure reads and tombstones a user's keys on each.
  compacted = [
    "${local.topic}${local.p}oura.raw.*",
    "${local.topic}${local.p}oura.trends.daily",
    "${local.topic}${local.p}oura.dlq",
  ]
  roles  = toset(["gateway", "processor", "collector", "migrations", "external-secrets"])
  sa_for = { for r in local.roles : r => "${var.release_name}-${r}" }

  connect = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]

  kafka_statements = {
    collector = [
      { actions = concat(local.connect, ["kafka-cluster:WriteDataIdempotently"]), resources = [var.msk_cluster_arn] },
      { actions = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"], resources = ["${local.topic}${local.p}oura.raw.*"] },
      { actions = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"], resources = ["${local.topic}${local.p}oura.raw.quarantine", "${local.topic}${local.p}oura.webhook.events"] },
      { actions = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"], resources = ["${local.group}${local.fetcher}*"] },
    ]
    gateway = [
      { actions = concat(local.connect, ["kafka-cluster:WriteDataIdempotently"]), resources = [var.msk_cluster_arn] },
      { actions = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"], resources = ["${local.topic}${local.p}oura.webhook.events"] },
      { actions = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData", "kafka-cluster:WriteData"], resources = local.compacted },
    ]
    processor = [
      { actions = concat(local.connect, ["kafka-cluster:WriteDataIdempotently"]), resources = [var.msk_cluster_arn] },
      { actions = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"], resources = ["${local.topic}${local.p}oura.raw.*"] },
      { actions = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"], resources = local.compacted },
      { actions = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"], resources = ["${local.group}${local.group_id}*"] },
    ]
    migrations = [
      { actions = local.connect, resources = [var.msk_cluster_arn] },
      {
        actions = [
          "kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic", "kafka-cluster:AlterTopic",
          "kafka-cluster:DescribeTopicDynamicConfiguration", "kafka-cluster:AlterTopicDynamicConfiguration",
          "kafka-cluster:DeleteTopic", "kafka-cluster:ReadData", "kafka-cluster:WriteData",
        ]
        resources = ["${local.topic}${local.p}oura.*"]
      },
      { actions = ["kafka-cluster:WriteDataIdempotently"], resources = [var.msk_cluster_arn] },
      { actions = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"], resources = ["${local.group}${local.group_id}*"] },
    ]
  }
}

data "aws_iam_policy_document" "assume" {
  for_each = local.roles
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_provider_url}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${local.sa_for[each.key]}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_provider_url}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each             = local.roles
  name                 = "${var.name}-${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.assume[each.key].json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "kafka" {
  for_each = local.kafka_statements
  dynamic "statement" {
    for_each = each.value
    content {
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "kafka" {
  for_each = local.kafka_statements
  name     = "msk"
  role     = aws_iam_role.this[each.key].id
  policy   = data.aws_iam_policy_document.kafka[each.key].json
}

data "aws_iam_policy_document" "secrets" {
  statement {
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = var.secret_arns
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]
  }
}

resource "aws_iam_role_policy" "secrets" {
  name   = "read-secrets"
  role   = aws_iam_role.this["external-secrets"].id
  policy = data.aws_iam_policy_document.secrets.json
}

# The platform's secrets, as empty containers: Terraform never sees their values (they would land
# in the state). docs/deploy.md shows the `aws secretsmanager put-secret-value` for each.
#   database          {"username", "password"}   the application's PostgreSQL role
#   jwt               {"secret"}                 JWT_SECRET
#   oura              {"client_id", "client_secret"}
#   token-encryption  {"keys"}                   TOKEN_ENCRYPTION_KEYS (comma-separated Fernet keys)
#   grafana           {"password"}               the grafana_reader role
#   AmazonMSK_...     {"username", "password"}   SCRAM user (MSK requires this name prefix and a customer key)

locals {
  secrets = {
    database         = "Application PostgreSQL role (DB_USER / DB_PASSWORD)"
    jwt              = "JWT signing secret (JWT_SECRET)"
    oura             = "Oura OAuth client (OURA_CLIENT_ID / OURA_CLIENT_SECRET)"
    token-encryption = "Fernet keys encrypting Oura tokens at rest (TOKEN_ENCRYPTION_KEYS)"
    grafana          = "Password of the read-only grafana_reader PostgreSQL role"
  }
}

module "kms" {
  source      = "../kms"
  description = "${var.name} application secrets"
  alias       = "${var.name}-secrets"
  tags        = var.tags
}

moved {
  from = aws_kms_key.secrets
  to   = module.kms.aws_kms_key.this
}

moved {
  from = aws_kms_alias.secrets
  to   = module.kms.aws_kms_alias.this[0]
}

resource "aws_secretsmanager_secret" "app" {
  # checkov:skip=CKV2_AWS_57:No AWS rotation Lambda exists for these application secrets; they are rotated by the procedure in docs/deploy.md (Fernet keys rotate without downtime).
  for_each                = local.secrets
  name                    = "myhealth/${var.environment}/${each.key}"
  description             = each.value
  kms_key_id              = module.kms.arn
  recovery_window_in_days = var.recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret" "kafka_scram" {
  # checkov:skip=CKV2_AWS_57:MSK SCRAM credentials have no AWS rotation Lambda; rotate by putting a new value (MSK picks it up) as in docs/deploy.md.
  count                   = var.kafka_scram ? 1 : 0
  name                    = "AmazonMSK_myhealth_${var.environment}_app"
  description             = "MSK SASL/SCRAM user of the myHealth services (KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD)"
  kms_key_id              = module.kms.arn
  recovery_window_in_days = var.recovery_window_days
  tags                    = var.tags
}

# MSK reads SCRAM secrets with its own service principal.
data "aws_iam_policy_document" "kafka_scram" {
  count = var.kafka_scram ? 1 : 0
  statement {
    sid       = "AWSKafkaResourcePolicy"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.kafka_scram[0].arn]
    principals {
      type        = "Service"
      identifiers = ["kafka.amazonaws.com"]
    }
  }
}

resource "aws_secretsmanager_secret_policy" "kafka_scram" {
  count      = var.kafka_scram ? 1 : 0
  secret_arn = aws_secretsmanager_secret.kafka_scram[0].arn
  policy     = data.aws_iam_policy_document.kafka_scram[0].json
}

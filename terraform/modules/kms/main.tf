# A customer-managed KMS key with yearly rotation. Its key policy lets the account administer the
# key through IAM (AWS's default statement) and grants any extra principals the statements given.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "this" {
  # checkov:skip=CKV_AWS_109:A KMS key policy's resource "*" is the key itself; the root account statement is AWS's required default.
  # checkov:skip=CKV_AWS_111:A KMS key policy's resource "*" is the key itself; the root account statement is AWS's required default.
  # checkov:skip=CKV_AWS_356:A KMS key policy's resource "*" is the key itself, not every resource.
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  dynamic "statement" {
    for_each = var.extra_statements
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = ["*"]
      principals {
        type        = statement.value.principal_type
        identifiers = statement.value.principals
      }
    }
  }
}

resource "aws_kms_key" "this" {
  description         = var.description
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.this.json
  tags                = var.tags
}

resource "aws_kms_alias" "this" {
  count         = var.alias == null ? 0 : 1
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}

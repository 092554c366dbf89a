# Remote state, created once per AWS account with local state (docs/deploy.md, step 2):
# an S3 bucket (versioned, KMS-encrypted, private, TLS-only) and a DynamoDB lock table.
# Every environment then keeps its state there (see environments/*/backend.tf).

terraform {
  required_version = ">= 1.10"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

variable "region" {
  description = "AWS region for the state bucket and lock table."
  type        = string
  default     = "eu-west-1"
}

variable "state_bucket_name" {
  description = "Globally unique bucket name, e.g. myhealth-tfstate-<account id>."
  type        = string
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { Project = "myhealth", ManagedBy = "terraform", Component = "tfstate" }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_iam_policy_document" "kms" {
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
}

resource "aws_kms_key" "state" {
  description         = "myhealth Terraform state"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "state" {
  name          = "alias/myhealth-tfstate"
  target_key_id = aws_kms_key.state.key_id
}

resource "aws_s3_bucket" "state" {
  # checkov:skip=CKV_AWS_144:Cross-region replication of the state bucket is optional; versioning keeps every state revision.
  # checkov:skip=CKV_AWS_18:Access logging would need a second bucket just for the state bucket's logs; CloudTrail records the API calls.
  # checkov:skip=CKV2_AWS_62:No consumer for state-bucket event notifications.
  bucket = var.state_bucket_name
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    id     = "old-state-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 365
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "state_tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.state.arn,
      "${aws_s3_bucket.state.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.state_tls_only.json
}

resource "aws_dynamodb_table" "lock" {
  name         = "myhealth-tfstate-lock"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "LockID"

  attribute {
    name = "LockID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.state.arn
  }

  deletion_protection_enabled = true
}

output "state_bucket" {
  description = "Bucket for the backend configuration (bucket = ...)."
  value       = aws_s3_bucket.state.bucket
}

output "state_bucket_arn" {
  description = "Bucket ARN (input of the global environment)."
  value       = aws_s3_bucket.state.arn
}

output "state_kms_key_arn" {
  description = "KMS key of the state (kms_key_id in the backend configuration)."
  value       = aws_kms_key.state.arn
}

output "lock_table" {
  description = "DynamoDB lock table (dynamodb_table = ...)."
  value       = aws_dynamodb_table.lock.name
}

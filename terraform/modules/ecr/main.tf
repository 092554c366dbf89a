# One image repository for every environment: images are built once and promoted by digest.

data "aws_partition" "kms" {}
data "aws_caller_identity" "kms" {}

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
      identifiers = ["arn:${data.aws_partition.kms.partition}:iam::${data.aws_caller_identity.kms.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "ecr" {
  description         = "${var.name} ECR images"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms.json
  tags                = var.tags
}

resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.ecr.arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.untagged_expiry_days
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest release images"
        selection = {
          tagStatus     = "tagged"
          tagPrefixList = ["sha-", "v"]
          countType     = "imageCountMoreThan"
          countNumber   = var.keep_tagged_images
        }
        action = { type = "expire" }
      },
    ]
  })
}

# prod: every safety setting on - Multi-AZ RDS with 30-day backups, deletion protection and a final
# snapshot, one NAT gateway per AZ, MSK with IAM auth. tests/deploy/test_terraform.py asserts these.

data "aws_caller_identity" "current" {}

module "platform" {
  source = "../../modules/platform"

  environment        = "prod"
  region             = var.region
  azs                = ["${var.region}a", "${var.region}b", "${var.region}c"]
  vpc_cidr           = "10.30.0.0/16"
  single_nat_gateway = false
  ecr_repository_url = var.ecr_repository_url

  eks_public_access_cidrs = var.eks_public_access_cidrs
  eks_admin_role_arns     = concat(var.eks_admin_role_arns, ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:role/myhealth-deploy-prod"])
  eks_node_groups = {
    general = {
      instance_types = ["m7i.large"]
      min_size       = 3
      max_size       = 9
      desired_size   = 3
    }
  }

  rds_instance_class                      = "db.m7g.large"
  rds_multi_az                            = true
  rds_backup_retention_days               = 30
  rds_deletion_protection                 = true
  rds_skip_final_snapshot                 = false
  rds_performance_insights_retention_days = 7

  msk_broker_instance_type = "kafka.m7g.large"
  msk_broker_volume_gib    = 1000
  kafka_auth               = "iam"
  log_retention_days       = 365
}

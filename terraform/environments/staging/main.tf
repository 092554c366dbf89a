# staging: production's shape at smaller sizes, with MSK SASL/SCRAM so both Kafka auth modes are
# exercised before production.

data "aws_caller_identity" "current" {}

module "platform" {
  source = "../../modules/platform"

  environment        = "staging"
  region             = var.region
  azs                = ["${var.region}a", "${var.region}b", "${var.region}c"]
  vpc_cidr           = "10.20.0.0/16"
  single_nat_gateway = false
  ecr_repository_url = var.ecr_repository_url

  eks_public_access_cidrs = var.eks_public_access_cidrs
  eks_admin_role_arns     = concat(var.eks_admin_role_arns, ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:role/myhealth-deploy-staging"])
  eks_node_groups = {
    general = {
      instance_types = ["m7i.large"]
      min_size       = 3
      max_size       = 6
      desired_size   = 3
    }
  }

  rds_instance_class        = "db.t4g.medium"
  rds_multi_az              = true
  rds_backup_retention_days = 14
  rds_deletion_protection   = true
  rds_skip_final_snapshot   = false

  msk_broker_instance_type = "kafka.m7g.large"
  msk_broker_volume_gib    = 200
  kafka_auth               = "scram"
  log_retention_days       = 365
}

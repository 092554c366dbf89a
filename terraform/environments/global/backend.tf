terraform {
  # Remote state in the bucket and lock table from terraform/bootstrap; the account-specific
  # settings come from ../../backend.hcl (see backend.hcl.example):
  #   terraform init -backend-config=../../backend.hcl
  backend "s3" {
    key = "environments/global/terraform.tfstate"
  }
}

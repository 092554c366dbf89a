# Amazon MSK: three brokers over three AZs, TLS only in transit, KMS at rest, IAM and/or SCRAM
# authentication (never unauthenticated), topics created explicitly (auto-create off), replication
# factor 3 with min.insync.replicas 2 (acks=all survives one broker down), Prometheus exporters
# and broker logs.

module "kms" {
  source      = "../kms"
  description = "${var.name} MSK data at rest"
  tags        = var.tags
}

moved {
  from = aws_kms_key.msk
  to   = module.kms.aws_kms_key.this
}

resource "aws_security_group" "this" {
  name        = "${var.name}-msk"
  description = "Kafka from the EKS workloads only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "kafka" {
  for_each                     = toset(var.allowed_security_group_ids)
  security_group_id            = aws_security_group.this.id
  description                  = "Kafka TLS/SASL listeners (9094 TLS, 9096 SCRAM, 9098 IAM) from ${each.value}"
  ip_protocol                  = "tcp"
  from_port                    = 9094
  to_port                      = 9098
  referenced_security_group_id = each.value
}

resource "aws_msk_configuration" "this" {
  name           = "${var.name}-config"
  kafka_versions = [var.kafka_version]
  server_properties = join("\n", [
    "auto.create.topics.enable=false",
    "default.replication.factor=3",
    "min.insync.replicas=2",
    "num.partitions=6",
    "unclean.leader.election.enable=false",
    "offsets.topic.replication.factor=3",
    "transaction.state.log.replication.factor=3",
    "transaction.state.log.min.isr=2",
    # Only authenticated clients connect at all (unauthenticated access is off). IAM principals are
    # authorised by their IAM policies; SCRAM users, with no Kafka ACLs defined, get access.
    "allow.everyone.if.no.acl.found=true",
  ])
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "broker" {
  name              = "/aws/msk/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

resource "aws_msk_cluster" "this" {
  cluster_name           = var.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = 3
  enhanced_monitoring    = "PER_TOPIC_PER_BROKER"

  broker_node_group_info {
    instance_type   = var.broker_instance_type
    client_subnets  = var.subnet_ids
    security_groups = [aws_security_group.this.id]
    storage_info {
      ebs_storage_info {
        volume_size = var.broker_volume_gib
      }
    }
    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = module.kms.arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  client_authentication {
    unauthenticated = false
    sasl {
      iam   = var.iam_auth
      scram = var.scram_auth
    }
  }

  open_monitoring {
    prometheus {
      jmx_exporter {
        enabled_in_broker = true
      }
      node_exporter {
        enabled_in_broker = true
      }
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.broker.name
      }
    }
  }

  tags = var.tags
}

resource "aws_msk_scram_secret_association" "this" {
  count           = var.scram_auth ? 1 : 0
  cluster_arn     = aws_msk_cluster.this.arn
  secret_arn_list = var.scram_secret_arns
}

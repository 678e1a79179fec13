# A stand-in for the network landing zone an organisation already runs with
# Terraform: one VPC with private and public subnets in three AZs.
#
# It needs no provider (only locals, outputs and the built-in terraform_data
# resource), so it can be applied anywhere, offline, to try Plinth's
# network.existing.fromTerraform. A real landing zone would create the VPC
# with the aws provider (or the terraform-aws-modules/vpc module) and expose
# the same outputs.

terraform {
  # terraform_data is built in from Terraform 1.4 on.
  required_version = ">= 1.4.0"
}

variable "vpc_id" {
  description = "The id of the VPC the landing zone stands for."
  type        = string
  default     = "vpc-0a1b2c3d4e5f67890"
}

locals {
  # Subnet ids by availability zone, as a VPC module would output them.
  private_subnets = {
    "us-east-1a" = "subnet-0a1b2c3d4e5f60001"
    "us-east-1b" = "subnet-0a1b2c3d4e5f60002"
    "us-east-1c" = "subnet-0a1b2c3d4e5f60003"
  }
  public_subnets = {
    "us-east-1a" = "subnet-0a1b2c3d4e5f60101"
    "us-east-1b" = "subnet-0a1b2c3d4e5f60102"
    "us-east-1c" = "subnet-0a1b2c3d4e5f60103"
  }
}

# The "network": its output is in the state only after `terraform apply`,
# like a real VPC's ids.
resource "terraform_data" "network" {
  input = {
    vpc_id          = var.vpc_id
    private_subnets = [for az in sort(keys(local.private_subnets)) : local.private_subnets[az]]
    public_subnets  = [for az in sort(keys(local.public_subnets)) : local.public_subnets[az]]
  }
}

output "vpc_id" {
  description = "The VPC id (Plinth: spec.network.existing.fromTerraform.vpcId)."
  value       = terraform_data.network.output.vpc_id
}

output "private_subnets" {
  description = "Private subnet ids, one per AZ (Plinth: privateSubnetIds)."
  value       = terraform_data.network.output.private_subnets
}

output "public_subnets" {
  description = "Public subnet ids, one per AZ (Plinth: publicSubnetIds)."
  value       = terraform_data.network.output.public_subnets
}

output "availability_zones" {
  description = "The AZs the subnets are in (not read by Plinth)."
  value       = sort(keys(local.private_subnets))
}

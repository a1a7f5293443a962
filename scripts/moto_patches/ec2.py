"""EC2 resources from CloudFormation, kept as the local ECS reads them
(patch 6 in scripts/moto-server.py's list)."""

from moto.ec2 import ec2_backends
from moto.ec2.models.subnets import SubnetRouteTableAssociation
from moto.ec2.models.vpcs import VPC

from moto_patches import check_replaced_source


def associate_subnet_from_cloudformation(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json["Properties"]
    backend = ec2_backends[account_id][region_name]
    backend.associate_route_table(properties["RouteTableId"], subnet_id=properties["SubnetId"])
    return backend.create_subnet_association(route_table_id=properties["RouteTableId"], subnet_id=properties["SubnetId"])


def create_vpc_from_cloudformation(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    vpc = ORIGINAL_VPC_CREATE(resource_name, cloudformation_json, account_id, region_name, **kwargs)
    properties = cloudformation_json["Properties"]
    for attribute, name in (("enable_dns_support", "EnableDnsSupport"), ("enable_dns_hostnames", "EnableDnsHostnames")):
        if name in properties:
            setattr(vpc, attribute, str(properties[name]).lower() == "true")
    return vpc


ORIGINAL_VPC_CREATE = VPC.create_from_cloudformation_json


# sha256 of the source of each function replaced or wrapped below, as in moto 5.2.5.
REPLACED_SOURCE = {
    "VPC.create_from_cloudformation_json": "4eb227149cba145ca1118ab15b93583ba178ec2ef4cb0247118c57183c327823",
    "SubnetRouteTableAssociation.create_from_cloudformation_json": "dc910f75b3aa6a351f3ec2b3479fb45e2b32f0a25015a9f4319373be71144b3a",
}


def patch():
    check_replaced_source(REPLACED_SOURCE, VPC.create_from_cloudformation_json)
    check_replaced_source(REPLACED_SOURCE, SubnetRouteTableAssociation.create_from_cloudformation_json)
    VPC.create_from_cloudformation_json = classmethod(create_vpc_from_cloudformation)
    SubnetRouteTableAssociation.create_from_cloudformation_json = classmethod(associate_subnet_from_cloudformation)

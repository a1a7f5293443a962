"""IAM's service-linked roles named as IAM names them (patch 11 in
scripts/moto-server.py's list)."""

from moto.iam import models

from moto_patches import check_replaced_source

# sha256 of the source of the function whose naming this relies on, as in moto 5.2.5.
REPLACED_SOURCE = {
    "IAMBackend.create_service_linked_role": "178bf236b4d5920c12684c7c7bd49f0aff314fa3cf631085e0e81834d8b6f9fe",
}


def patch():
    check_replaced_source(REPLACED_SOURCE, models.IAMBackend.create_service_linked_role)
    # moto capitalises only the services in this table and writes the others
    # as spelt in the principal, so ECS's role came out as
    # AWSServiceRoleForecs; IAM names it AWSServiceRoleForECS.
    models.SERVICE_NAME_CONVERSION.setdefault("ecs", "ECS")

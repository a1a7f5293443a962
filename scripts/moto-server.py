"""Start moto as the local AWS API, with three CloudFormation gaps mended.

scripts/local-aws runs this with the virtualenv's Python. The patches make
`sam deploy` of nested stacks behave as CloudFormation does:

1. `Fn::GetAtt Child.Outputs.X` on an `AWS::CloudFormation::Stack` resource:
   moto's nested Stack model has no `get_cfn_attribute`, so the parent stack
   fails to resolve its children's outputs. We read `Outputs.X` from the child's
   output map.
2. Stacks created or updated through a change set (which is how SAM deploys)
   never get Outputs: `ChangeSet.apply` updates the resources but not the
   stack's template, so its output map stays the empty one of the placeholder
   stack. We rebuild the template, parameters and output map after applying.
3. A redeploy with nothing changed must yield an empty change set (SAM then
   says "No changes to deploy"). moto compares the parameters as sent, but
   SAM sends `UsePreviousValue` for parameters it did not set the first time,
   so the same values look different. We compare the effective values, with
   the template's defaults filled in, as CloudFormation does.

Before patching, the code each patch replaces is compared with the code it
was written against (moto 5.2.5, by a hash of its source), so a moto upgrade
that changes it fails loudly here instead of deploying wrongly.
"""

import hashlib
import inspect
import sys

from moto import server
from moto.cloudformation import models
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException


def nested_stack_attribute(stack, attribute_name):
    prefix = "Outputs."
    if not attribute_name.startswith(prefix):
        raise UnformattedGetAttTemplateException()
    key = attribute_name[len(prefix):]
    if key not in stack.output_map.outputs:
        raise UnformattedGetAttTemplateException()
    output = stack.output_map[key]
    if output is None:
        raise UnformattedGetAttTemplateException()
    return output.value


def apply_change_set_and_refresh_outputs(change_set):
    change_set.stack.resource_map.update(change_set.template_dict, change_set.parameters)
    stack = change_set.stack
    stack.template = change_set.template
    stack.parameters = change_set.parameters
    stack._parse_template()
    stack.description = stack.template_dict.get("Description")
    stack.output_map = stack._create_output_map()


def same_effective_parameters(stack, other_parameters):
    declared = (stack.template_dict or {}).get("Parameters") or {}

    def effective(given):
        return {name: str(given.get(name, spec.get("Default"))) for name, spec in declared.items()}

    return effective(stack.parameters) == effective(other_parameters)


# sha256 of the source of each function replaced below, as in moto 5.2.5.
REPLACED_SOURCE = {
    "ChangeSet.apply": "1644afa9d35ce8934a91ca2eea6977f8fe5e3811f8bc9b78ce235a1edf3c63ec",
    "Stack.has_parameters": "abc7b22ef33173be5b5fd1a2c951d1bcb8d061d13371a98522c05df36f82e5a0",
}


def check_replaced_source(function):
    digest = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()
    if digest != REPLACED_SOURCE[function.__qualname__]:
        sys.exit(f"moto-server.py: moto's {function.__qualname__} changed; review the patch that replaces it")


def patch():
    if "get_cfn_attribute" in vars(models.Stack):
        sys.exit("moto-server.py: moto's Stack now has get_cfn_attribute; review the nested-output patch")
    if not hasattr(models.Stack, "_create_output_map"):
        sys.exit("moto-server.py: moto's Stack has no _create_output_map; review the change-set patch")
    check_replaced_source(models.ChangeSet.apply)
    check_replaced_source(models.Stack.has_parameters)
    models.Stack.get_cfn_attribute = nested_stack_attribute
    models.ChangeSet.apply = apply_change_set_and_refresh_outputs
    models.Stack.has_parameters = same_effective_parameters


if __name__ == "__main__":
    patch()
    server.main(sys.argv[1:])

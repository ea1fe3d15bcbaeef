"""The SAM transform of template.yaml, as CloudFormation runs it on `sam deploy`.

Usage: sam_translate.py TEMPLATE [Name=Value ...]   (the virtualenv of .ci/test has samtranslator)
Prints the CloudFormation template (JSON) that the AWS::Serverless transform makes, with
CodeUri replaced by S3 locations as `sam package` does. Intrinsic functions are left for the
deploy rehearsal (tests/src/stack.rs) to resolve, as CloudFormation does after the transform.
"""

import json
import os
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """keygate's functions use inline statements only: no managed-policy names to look up."""

    def load(self):
        return {}


def main():
    path, overrides = sys.argv[1], sys.argv[2:]
    with open(path) as f:
        template = yaml_parse(f.read())
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://keygate-rehearsal/{name}.zip"
    params = dict(o.split("=", 1) for o in overrides)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        out = transform(template, params, NoManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"SAM transform: {cause}", file=sys.stderr)
        sys.exit(1)
    json.dump(out, sys.stdout, indent=1, default=str)


main()

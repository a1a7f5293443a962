"""Make the local registry and moto's ECR one service, as ECR is.

In AWS, an image pushed to <account>.dkr.ecr.<region>.amazonaws.com shows up
at once in the ECR API (DescribeImages, BatchGetImage). Locally the registry
and moto are separate programs, so this bridge listens for the registry's
push notifications and records each pushed manifest in moto with PutImage,
under the same tag and digest. scripts/local-aws starts it and points the
registry's `notifications` at it.

Pushes to a repository moto does not know are logged and ignored, as ECR
would refuse them.
"""

import argparse
import base64
import json
import logging
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import requests

MANIFEST_TYPES = {
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
}

log = logging.getLogger("ecr-bridge")


class Bridge:
    def __init__(self, registry, ca_bundle):
        self.registry = registry
        self.ca_bundle = ca_bundle
        self.ecr = boto3.client("ecr")

    def password(self):
        # Read the registry password as any ECR client does: from the token.
        token = self.ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        return base64.b64decode(token).decode().split(":", 1)[1]

    def record(self, event):
        target = event.get("target", {})
        if event.get("action") != "push" or target.get("mediaType") not in MANIFEST_TYPES:
            return
        repository, digest, tag = target.get("repository"), target.get("digest"), target.get("tag")
        if not (repository and digest and tag):
            return  # a push by digest only leaves nothing to tag
        manifest = requests.get(
            f"https://{self.registry}/v2/{repository}/manifests/{digest}",
            auth=("AWS", self.password()),
            headers={"Accept": target["mediaType"]},
            verify=self.ca_bundle,
            timeout=10,
        )
        manifest.raise_for_status()
        try:
            self.ecr.put_image(
                repositoryName=repository,
                imageManifest=manifest.text,
                imageManifestMediaType=target["mediaType"],
                imageTag=tag,
                imageDigest=digest,
            )
            log.info("recorded %s:%s as %s", repository, tag, digest)
        except self.ecr.exceptions.ImageAlreadyExistsException:
            log.info("%s:%s is already %s", repository, tag, digest)
        except Exception as err:  # moto raises a bare Exception for unknown repositories
            log.warning("not recorded %s:%s (%s)", repository, tag, err)


def handler_for(bridge):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                events = json.loads(body).get("events", [])
                for event in events:
                    bridge.record(event)
            except Exception as err:
                # The registry retries on failure; a 200 with a logged error
                # keeps one bad event from blocking the queue behind it.
                log.error("event not handled: %s", err)
            self.send_response(200)
            self.end_headers()

        def log_message(self, fmt, *args):
            log.debug(fmt, *args)

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:4567")
    parser.add_argument("--registry", required=True)
    parser.add_argument("--ca-bundle", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    host, port = args.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), handler_for(Bridge(args.registry, args.ca_bundle)))
    log.info("listening on %s for pushes to %s", args.listen, args.registry)
    server.serve_forever()


if __name__ == "__main__":
    main()

"""make k8s-e2e: the Helm chart's own pods as Podman containers (see __main__)."""

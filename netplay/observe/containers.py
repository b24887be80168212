"""Docker observations through the Docker Engine API (the docker SDK). Read-only.

Changes to containers are recorded `docker` commands (see netplay.plan.build); this module
only looks: is an image present, which containers belong to a lab. The client comes from the
machine whose daemon it is (Machine.docker(): None when no daemon answers).
"""

from netplay.core.consts import LAB_LABEL

PULL_TIMEOUT = 120  # seconds; a host with no registry answers much sooner


def image_present(cli, image):
    import docker.errors

    try:
        cli.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False


def pull(cli, image):
    """Try to pull image; True when it is then present."""
    try:
        name, _, tag = image.partition(":") if "@" not in image else (image, "", "")
        cli.images.pull(name, tag=tag or None)
        return image_present(cli, image)
    except Exception:  # no registry, no network, unknown image
        return False


def lab_containers(cli, lab):
    """Containers, running or not, that carry this lab's label."""
    return cli.containers.list(all=True, filters={"label": f"{LAB_LABEL}={lab}"})


def container_names(cli):
    return {c.name for c in cli.containers.list(all=True)}

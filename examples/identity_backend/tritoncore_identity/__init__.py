"""tritoncore-identity: outputs are the inputs."""

FROM ubuntu:22.04
ENTRYPOINT ["/bin/bash"]
CMD ["-c", "echo one"]
CMD ["-c", "echo two"]
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "echo three"]

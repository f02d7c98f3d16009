FROM nvidia/cuda:12.2.0-runtime-ubuntu22.04
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y python3 python3-pip git wget
RUN pip3 install torch torchvision --index-url https://download.pytorch.org/whl/cu121
RUN pip3 install transformers==4.39.1 accelerate==0.28.0
WORKDIR /workspace
COPY train.py .
ENV HF_TOKEN=""
CMD ["python3", "train.py"]

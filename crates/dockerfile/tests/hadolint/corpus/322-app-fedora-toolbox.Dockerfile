FROM registry.fedoraproject.org/fedora-toolbox:40
RUN dnf -y upgrade \
    && dnf -y install neovim ripgrep fd-find tmux \
    && dnf clean all
RUN dnf install -y golang && go install github.com/jesseduffield/lazygit@latest

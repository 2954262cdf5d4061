package kit

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/internal/proc"
)

// BuildGoImage builds a container image holding one static Go binary, without a registry:
// it compiles pkg (an import path, or a directory relative to the working directory) with
// CGO_ENABLED=0 for Linux on the Docker engine's architecture, and builds dockerfile with
// testcontainers-go (FromDockerfile with an in-memory build context holding the Dockerfile
// and the binary, named after pkg's last element). dockerfile should start FROM scratch,
// which needs no pull. The image is tagged repo:<hash of binary and Dockerfile> and kept;
// if that tag exists already, nothing is built. Building removes images of repo older than
// a day that no container uses. It returns the image reference.
func BuildGoImage(ctx context.Context, pkg, repo string, dockerfile []byte) (string, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", err
	}
	name := path.Base(filepath.ToSlash(pkg))
	bin, err := compile(ctx, pkg, goArch(info.Info.Architecture))
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(dockerfile)
	h.Write(bin)
	tag := hex.EncodeToString(h.Sum(nil))[:16]
	ref := repo + ":" + tag
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	}
	archive, err := buildContext(dockerfile, name, bin)
	if err != nil {
		return "", err
	}
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return "", err
	}
	defer p.Close()
	var log bytes.Buffer
	img, err := p.BuildImage(ctx, &testcontainers.ContainerRequest{
		FromDockerfile: testcontainers.FromDockerfile{
			ContextArchive: bytes.NewReader(archive),
			Dockerfile:     "Dockerfile",
			Repo:           repo,
			Tag:            tag,
			KeepImage:      true,
			BuildLogWriter: &log,
		},
	})
	if err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", ref, err, log.String())
	}
	pruneImages(ctx, cli, repo, ref)
	return img, nil
}

// pruneImages removes images of repo other than keep that are older than a day, so a
// checkout that changes often does not pile up images. Images that a container uses
// are not removed (no force), and failures are ignored.
func pruneImages(ctx context.Context, cli *testcontainers.DockerClient, repo, keep string) {
	res, err := cli.ImageList(ctx, client.ImageListOptions{Filters: client.Filters{}.Add("reference", repo)})
	if err != nil {
		return
	}
	old := time.Now().Add(-24 * time.Hour).Unix()
	for _, im := range res.Items {
		if im.Created > old || slices.Contains(im.RepoTags, keep) {
			continue
		}
		for _, tag := range im.RepoTags {
			_, _ = cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{})
		}
	}
}

// compile builds the static binary of pkg and returns its bytes.
func compile(ctx context.Context, pkg, arch string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "perfgate-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "bin")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if p, err := exec.LookPath("go"); err == nil {
		gobin = p
	}
	cmd := proc.Command(ctx, gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return os.ReadFile(out)
}

func goArch(dockerArch string) string {
	switch dockerArch {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	}
	return runtime.GOARCH
}

// buildContext returns a tar archive holding the Dockerfile and the binary.
func buildContext(dockerfile []byte, name string, bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {name, 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

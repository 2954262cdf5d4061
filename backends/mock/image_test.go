package mock

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseImageURL checks that the image payload parser (data URL, base64, PNG, JPEG and
// GIF headers) never panics and that whatever it accepts is an image the engine can charge:
// a size in range and the token count ImageTokens gives it. Seeds are in
// testdata/fuzz/FuzzParseImageURL.
//
//	go test -fuzz FuzzParseImageURL -fuzztime 1m ./backends/mock
func FuzzParseImageURL(f *testing.F) {
	f.Add(pngURL(f, 640, 480, 1))
	f.Fuzz(func(t *testing.T, url string) {
		im, err := parseImageURL(url)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if !strings.HasPrefix(url, "data:") {
			t.Fatalf("accepted %q", url)
		}
		n, err := ImageTokens(im.width, im.height)
		if err != nil || n != im.tokens || n < 1 || n > imageMaxPixels/(imageFactor*imageFactor) {
			t.Fatalf("%d×%d: %d tokens, ImageTokens %d, %v", im.width, im.height, im.tokens, n, err)
		}
	})
}

// The committed seeds parse as they should: each image's size and tokens, each refusal's
// reason.
func TestImageSeeds(t *testing.T) {
	want := map[string]string{
		"png_640x480": "640×480: 391 tokens", "png_tiny": "1×1: 4 tokens", "jpeg_1920x1080": "1920×1080: 2691 tokens",
		"gif_32x32": "32×32: 4 tokens", "png_wide_refused": "aspect ratio", "png_truncated": "without an IHDR",
		"jpeg_no_frame": "without a frame header", "not_base64": "must be base64", "bad_base64": "illegal base64",
		"http_url": "data URLs only", "empty": "must be a data URL",
	}
	for name, w := range want {
		b, err := os.ReadFile(filepath.Join("testdata/fuzz/FuzzParseImageURL", name))
		if err != nil {
			t.Fatal(err)
		}
		line := strings.Split(string(b), "\n")[1]
		url, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "string("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		im, err := parseImageURL(url)
		got := fmt.Sprintf("%d×%d: %d tokens", im.width, im.height, im.tokens)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, w) {
			t.Errorf("%s: got %q, want %q", name, got, w)
		}
	}
}

package mock

import (
	"bytes"
	"container/list"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
)

// imageRef is an image of a prompt: a hash of its bytes (the encoder cache's key) and the
// prompt tokens it takes.
type imageRef struct {
	hash          uint64
	width, height int
	tokens        int
}

// Qwen2-VL's image processor, as vLLM runs it (transformers' smart_resize): the image is
// resized to multiples of 28 pixels (14-pixel patches, merged 2×2) with between 56×56 and
// 12,845,056 pixels, keeping its aspect ratio, and every 28×28 tile is one token.
const (
	imageFactor    = 28
	imageMinPixels = 56 * 56
	imageMaxPixels = 28 * 28 * 16384
	imageMaxRatio  = 200
	imageTokenBase = textVocabBase + textVocab // placeholder ids live above the text ids
)

// ImageTokens is the number of prompt tokens the simulator charges for an image of
// width×height pixels: Qwen2-VL's rule as vLLM applies it. The image is resized to
// multiples of 28 pixels (rounding to the nearest, halves to even), scaled down to at most
// 12,845,056 pixels or up to at least 3,136, keeping its aspect ratio; each 28×28 tile is
// one token (its four 14×14 patches merged). A 1024×1024 image takes 1,369 tokens, a
// 640×480 one 391. It fails for an empty image or one whose sides differ by a ratio of
// 200 or more, which Qwen2-VL refuses.
func ImageTokens(width, height int) (int, error) {
	if width < 1 || height < 1 {
		return 0, fmt.Errorf("image of %d×%d pixels is empty", width, height)
	}
	w, h := float64(width), float64(height)
	if math.Max(w, h)/math.Min(w, h) > imageMaxRatio {
		return 0, fmt.Errorf("absolute aspect ratio must be smaller than %d, got %g", imageMaxRatio, math.Max(w, h)/math.Min(w, h))
	}
	const f = imageFactor
	hb := math.Max(f, math.RoundToEven(h/f)*f)
	wb := math.Max(f, math.RoundToEven(w/f)*f)
	switch {
	case hb*wb > imageMaxPixels:
		beta := math.Sqrt(h * w / imageMaxPixels)
		hb = math.Max(f, math.Floor(h/beta/f)*f)
		wb = math.Max(f, math.Floor(w/beta/f)*f)
	case hb*wb < imageMinPixels:
		beta := math.Sqrt(imageMinPixels / (h * w))
		hb = math.Ceil(h*beta/f) * f
		wb = math.Ceil(w*beta/f) * f
	}
	return int(hb/f) * int(wb/f), nil
}

// parseImageURL reads an image given as a data URL ("data:image/png;base64,..."): its
// size from the PNG, JPEG or GIF header, its token count, and a hash of its bytes.
func parseImageURL(url string) (imageRef, error) {
	rest, ok := strings.CutPrefix(url, "data:")
	if !ok {
		if strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") || strings.HasPrefix(url, "file:") {
			return imageRef{}, errors.New("the simulator reads images from data URLs only (data:image/png;base64,...)")
		}
		return imageRef{}, errors.New("image URL must be a data URL")
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return imageRef{}, errors.New("image data URL must be base64 (data:MEDIATYPE;base64,DATA)")
	}
	b, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return imageRef{}, fmt.Errorf("image data URL: %w", err)
	}
	w, h, err := imageSize(b)
	if err != nil {
		return imageRef{}, err
	}
	n, err := ImageTokens(w, h)
	if err != nil {
		return imageRef{}, err
	}
	hs := fnv.New64a()
	hs.Write(b)
	return imageRef{hash: hs.Sum64(), width: w, height: h, tokens: n}, nil
}

var (
	pngMagic = []byte("\x89PNG\r\n\x1a\n")
	gifMagic = []byte("GIF8")
)

// imageSize reads the width and height from a PNG's IHDR chunk, a JPEG's start-of-frame
// segment or a GIF's screen descriptor.
func imageSize(b []byte) (w, h int, err error) {
	switch {
	case bytes.HasPrefix(b, pngMagic):
		if len(b) < 24 || string(b[12:16]) != "IHDR" {
			return 0, 0, errors.New("image: PNG without an IHDR chunk")
		}
		w, h = int(binary.BigEndian.Uint32(b[16:20])), int(binary.BigEndian.Uint32(b[20:24]))
	case bytes.HasPrefix(b, []byte{0xff, 0xd8}):
		return jpegSize(b[2:])
	case bytes.HasPrefix(b, gifMagic):
		if len(b) < 10 {
			return 0, 0, errors.New("image: truncated GIF header")
		}
		w, h = int(binary.LittleEndian.Uint16(b[6:8])), int(binary.LittleEndian.Uint16(b[8:10]))
	default:
		return 0, 0, errors.New("image: not a PNG, JPEG or GIF")
	}
	if w < 1 || h < 1 || w > 1<<16 || h > 1<<16 {
		return 0, 0, fmt.Errorf("image: size %d×%d out of range", w, h)
	}
	return w, h, nil
}

// jpegSize walks a JPEG's segments (after its SOI marker) to the first start-of-frame.
func jpegSize(b []byte) (w, h int, err error) {
	for len(b) >= 4 {
		if b[0] != 0xff {
			return 0, 0, errors.New("image: bad JPEG segment")
		}
		m := b[1]
		switch {
		case m == 0xff: // fill byte
			b = b[1:]
			continue
		case m == 0x01 || m >= 0xd0 && m <= 0xd9: // markers without a length
			b = b[2:]
			continue
		}
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if n < 2 || len(b) < 2+n {
			return 0, 0, errors.New("image: truncated JPEG segment")
		}
		if m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc {
			if n < 7 {
				return 0, 0, errors.New("image: short JPEG frame header")
			}
			h, w = int(binary.BigEndian.Uint16(b[5:7])), int(binary.BigEndian.Uint16(b[7:9]))
			if w < 1 || h < 1 {
				return 0, 0, fmt.Errorf("image: size %d×%d out of range", w, h)
			}
			return w, h, nil
		}
		b = b[2+n:]
	}
	return 0, 0, errors.New("image: JPEG without a frame header")
}

// appendImageTokens appends the placeholder tokens of an image: ids drawn from its hash,
// so that the same image at the same place in a prompt shares cache blocks and another
// image does not.
func appendImageTokens(dst []int, im imageRef) []int {
	z := im.hash
	for range im.tokens {
		z += 0x9e3779b97f4a7c15
		x := (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		x = (x ^ (x >> 27)) * 0x94d049bb133111eb
		dst = append(dst, imageTokenBase+int((x^(x>>31))%(1<<20)))
	}
	return dst
}

// lru remembers keys with a size under a budget, least recently used leaving first: the
// encoder cache (sizes in image tokens) and the grammar cache (size 1 per schema).
type lru struct {
	budget, used int
	items        map[uint64]*list.Element
	order        list.List // of lruItem, most recent first
}

type lruItem struct {
	key  uint64
	size int
}

// touch reports whether key is cached, and caches it (as most recent) if it fits.
func (c *lru) touch(key uint64, size int) bool {
	if c.items == nil {
		c.items = map[uint64]*list.Element{}
	}
	if e, ok := c.items[key]; ok {
		c.order.MoveToFront(e)
		return true
	}
	if size > c.budget {
		return false
	}
	for c.used+size > c.budget {
		e := c.order.Back()
		it := c.order.Remove(e).(lruItem)
		delete(c.items, it.key)
		c.used -= it.size
	}
	c.items[key] = c.order.PushFront(lruItem{key, size})
	c.used += size
	return false
}

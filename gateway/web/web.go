// Package web serves the gateway's pages: the public transparency page
// (/), the member page (/member) and the operator console (/operator).
//
// The pages are plain HTML, CSS and JavaScript embedded in the binary (no
// build step, no CDN, nothing fetched from elsewhere) and read and write
// only through the gateway's own JSON API, the one every other client
// uses: no rule is implemented twice, and what a page shows is what the
// API answers. Chinese is the default language, English one click away.
package web

import (
	"embed"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

//go:embed assets
var assets embed.FS

// Pages maps each page's path to its file under assets/.
var Pages = map[string]string{
	"/":         "index.html",
	"/member":   "member.html",
	"/operator": "operator.html",
}

// AssetPrefix is where the stylesheet, scripts and vendored libraries are
// served from.
const AssetPrefix = "/assets/"

// csp allows nothing but this origin: no inline script, no third-party
// host, no framing (the member and operator pages hold tokens). data:
// images are the QR code's; blob: holds the checkpoint files the page
// offers for download.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Register adds the pages and their assets to r.
func Register(r fiber.Router) {
	for p, file := range Pages {
		r.Get(p, serveFile("assets/"+file))
	}
	r.Get(AssetPrefix+"*", func(c *fiber.Ctx) error {
		name := c.Params("*")
		// fs.ValidPath refuses "..", absolute and empty names.
		if !fs.ValidPath(name) || strings.HasSuffix(name, ".html") {
			return fiber.ErrNotFound
		}
		return serveFile("assets/" + name)(c)
	})
}

func serveFile(name string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		b, err := assets.ReadFile(name)
		if err != nil {
			return fiber.ErrNotFound
		}
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		c.Set(fiber.HeaderContentType, ct)
		c.Set(fiber.HeaderContentSecurityPolicy, csp)
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
		// Assets change with the binary; a short cache keeps an upgrade
		// visible within a minute.
		c.Set(fiber.HeaderCacheControl, "public, max-age=60")
		return c.Send(b)
	}
}

package api

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/evidence"
)

// evidenceTile serves a hash tile of the Merkle tree in the C2SP
// tlog-tiles layout (docs/evidence.md §12): GET /v1/evidence/tile/<L>/<N>
// for a full tile, …/<N>.p/<W> for the first W hashes of a partial one, as
// raw bytes (W·32). With the checkpoint, the tiles let anyone compute every
// inclusion and consistency proof (TileHashes in sdk/evidence) and mirror the
// tree without database access. Only trees of published checkpoints are
// served. Entry bundles are not: entries name members' accounts, so they
// come only with an inclusion proof to the merchant or member concerned.
func (s *Server) evidenceTile(c *fiber.Ctx) error {
	p, err := s.evidenceProvider()
	if err != nil {
		return err
	}
	path := c.Params("*")
	level, index, width, err := evidence.ParseTilePath(path)
	if err != nil {
		return Errorf(fiber.StatusNotFound, CodeNotFound, "not a tile path: want <level>/<index>[.p/<width>] as C2SP tlog-tiles spells it")
	}
	b, err := p.Tile(c.UserContext(), level, index, width)
	if errors.Is(err, evidence.ErrNotFound) {
		return Errorf(fiber.StatusNotFound, CodeNotFound, "tile %s is not in the tree of the latest checkpoint", strings.TrimPrefix(evidence.TilePath(level, index, width), "tile/"))
	} else if errors.Is(err, evidence.ErrMismatch) {
		return s.evidenceMismatch(c, "this tile", err)
	} else if err != nil {
		return err
	}
	// A tile path names fixed bytes: a partial tile is a prefix of the
	// full one, so any answer may be cached for good.
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	return c.Send(b)
}

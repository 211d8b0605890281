package api

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/merchant"
)

func (s *Server) routesOperator() {
	// Every /v1/operator route (here and in routesPoints) is rate limited
	// before its token is checked.
	s.app.Use("/v1/operator", s.limitOperator)
	op := s.operatorAuth
	s.handle(fiber.MethodPost, "/v1/operator/merchants", op, s.createMerchant)
	s.handle(fiber.MethodGet, "/v1/operator/merchants", op, s.listMerchants)
	s.handle(fiber.MethodGet, "/v1/operator/merchants/:merchant", op, s.getMerchant)
	s.handle(fiber.MethodPut, "/v1/operator/merchants/:merchant/status", op, s.setMerchantStatus)
	s.handle(fiber.MethodPost, "/v1/operator/merchants/:merchant/stores", op, s.createStore)
	s.handle(fiber.MethodGet, "/v1/operator/merchants/:merchant/stores", op, s.listStores)
	s.handle(fiber.MethodPost, "/v1/operator/merchants/:merchant/credentials", op, s.createCredential)
	s.handle(fiber.MethodGet, "/v1/operator/merchants/:merchant/credentials", op, s.listCredentials)
	s.handle(fiber.MethodPost, "/v1/operator/merchants/:merchant/credentials/:key/revoke", op, s.revokeCredential)
}

// mapMerchantErr maps merchant package errors to API errors.
func mapMerchantErr(err error) error {
	var ie *merchant.InvalidError
	switch {
	case errors.As(err, &ie):
		return Errorf(fiber.StatusBadRequest, CodeValidation, "%s", ie.Error())
	case errors.Is(err, merchant.ErrNotFound):
		return Errorf(fiber.StatusNotFound, "merchant_not_found", "no such merchant, store or credential")
	case errors.Is(err, merchant.ErrAlreadyRevoked):
		return Errorf(fiber.StatusConflict, "already_revoked", "credential is already revoked")
	}
	return err
}

type createMerchantRequest struct {
	Name     string `json:"name"`
	Industry string `json:"industry"`
}

func (s *Server) createMerchant(c *fiber.Ctx) error {
	var req createMerchantRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := merchant.NewMerchant(req.Name, req.Industry, s.now())
	if err != nil {
		return mapMerchantErr(err)
	}
	if err := s.merchants.CreateMerchant(c.UserContext(), m, actor(c)); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(m)
}

type merchantList struct {
	Merchants  []merchant.Merchant `json:"merchants"`
	NextCursor string              `json:"next_cursor,omitempty"`
}

func (s *Server) listMerchants(c *fiber.Ctx) error {
	limit, err := pageLimit(c, 50, 500)
	if err != nil {
		return err
	}
	ms, err := s.merchants.ListMerchants(c.UserContext(), c.Query("cursor"), limit)
	if err != nil {
		return err
	}
	out := merchantList{Merchants: ms}
	if out.Merchants == nil {
		out.Merchants = []merchant.Merchant{}
	}
	if len(ms) == limit {
		out.NextCursor = ms[len(ms)-1].ID
	}
	return c.JSON(out)
}

func (s *Server) getMerchant(c *fiber.Ctx) error {
	m, err := s.merchants.GetMerchant(c.UserContext(), c.Params("merchant"))
	if err != nil {
		return mapMerchantErr(err)
	}
	return c.JSON(m)
}

// pathMerchant loads the merchant named in the path, 404 if unknown.
func (s *Server) pathMerchant(c *fiber.Ctx) (merchant.Merchant, error) {
	m, err := s.merchants.GetMerchant(c.UserContext(), c.Params("merchant"))
	if err != nil {
		return merchant.Merchant{}, mapMerchantErr(err)
	}
	return m, nil
}

type createStoreRequest struct {
	Name string `json:"name"`
}

func (s *Server) createStore(c *fiber.Ctx) error {
	var req createStoreRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	st, err := merchant.NewStore(m.ID, req.Name, s.now())
	if err != nil {
		return mapMerchantErr(err)
	}
	if err := s.merchants.CreateStore(c.UserContext(), st, actor(c)); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(st)
}

func (s *Server) listStores(c *fiber.Ctx) error {
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	sts, err := s.merchants.ListStores(c.UserContext(), m.ID)
	if err != nil {
		return err
	}
	if sts == nil {
		sts = []merchant.Store{}
	}
	return c.JSON(fiber.Map{"stores": sts})
}

type createCredentialRequest struct {
	Algorithm string `json:"algorithm"`
	PublicKey string `json:"public_key"`
	Label     string `json:"label"`
	// Scopes default to merchant.DefaultScopes when absent.
	Scopes *[]string `json:"scopes"`
}

type credentialResponse struct {
	merchant.Credential
	// Secret is returned once, on creation of an hmac-sha256 credential.
	Secret string `json:"secret,omitempty"`
}

func (s *Server) createCredential(c *fiber.Ctx) error {
	var req createCredentialRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	cred, secret, err := merchant.NewCredential(m.ID, req.Algorithm, req.PublicKey, req.Label, s.now())
	if err != nil {
		return mapMerchantErr(err)
	}
	if req.Scopes != nil {
		if cred.Scopes, err = merchant.ParseScopes(*req.Scopes); err != nil {
			return mapMerchantErr(err)
		}
	}
	if err := s.merchants.CreateCredential(c.UserContext(), cred, actor(c)); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(credentialResponse{Credential: cred, Secret: secret})
}

func (s *Server) listCredentials(c *fiber.Ctx) error {
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	cs, err := s.merchants.ListCredentials(c.UserContext(), m.ID)
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []merchant.Credential{}
	}
	return c.JSON(fiber.Map{"credentials": cs})
}

func (s *Server) revokeCredential(c *fiber.Ctx) error {
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	if err := s.merchants.RevokeCredential(c.UserContext(), m.ID, c.Params("key"), s.now(), actor(c)); err != nil {
		return mapMerchantErr(err)
	}
	s.cache.forget("", c.Params("key"))
	cred, err := s.merchants.GetCredential(c.UserContext(), c.Params("key"))
	if err != nil {
		return err
	}
	return c.JSON(cred)
}

type statusRequest struct {
	Status string `json:"status"`
}

// setMerchantStatus suspends a merchant (its signed requests are refused
// with 403 merchant_suspended; its members keep their points) or
// reactivates it.
func (s *Server) setMerchantStatus(c *fiber.Ctx) error {
	var req statusRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Status != merchant.StatusActive && req.Status != merchant.StatusSuspended {
		return Errorf(fiber.StatusBadRequest, CodeValidation, "status must be active or suspended")
	}
	id := c.Params("merchant")
	if err := s.merchants.SetMerchantStatus(c.UserContext(), id, req.Status, s.now(), actor(c)); err != nil {
		return mapMerchantErr(err)
	}
	s.cache.forget(id, "")
	m, err := s.merchants.GetMerchant(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(m)
}

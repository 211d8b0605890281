package api

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/staff"
)

// Staff error codes.
const CodeStaffLoginTaken = "staff_login_taken"

// routesStaff registers the operator's routes for a merchant's staff
// accounts, which sign in to the merchant console (gateway/web).
func (s *Server) routesStaff() {
	op := s.operatorAuth
	s.handle(fiber.MethodPost, "/v1/operator/merchants/:merchant/staff", op, s.createStaff)
	s.handle(fiber.MethodGet, "/v1/operator/merchants/:merchant/staff", op, s.listStaff)
}

type createStaffRequest struct {
	Login    string `json:"login"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

// staffView is an account as the API shows it: never its password hash.
type staffView struct {
	ID         string    `json:"id"`
	MerchantID string    `json:"merchant_id"`
	Login      string    `json:"login"`
	Role       string    `json:"role"`
	CreatedAt  time.Time `json:"created_at"`
}

func viewOfStaff(st staff.Staff) staffView {
	return staffView{ID: st.ID, MerchantID: st.MerchantID, Login: st.Login, Role: st.Role, CreatedAt: st.CreatedAt.UTC()}
}

func (s *Server) createStaff(c *fiber.Ctx) error {
	var req createStaffRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	st, err := staff.New(merchant.NewID("stf_"), m.ID, req.Login, req.Role, req.Password, s.now().UTC().Truncate(time.Microsecond))
	if err != nil {
		return Errorf(400, CodeValidation, "%s", err.Error())
	}
	if err := s.db.CreateStaff(c.UserContext(), st, actor(c)); errors.Is(err, staff.ErrExists) {
		return Errorf(409, CodeStaffLoginTaken, "login %q is already taken at this merchant", req.Login)
	} else if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(viewOfStaff(st))
}

type staffList struct {
	Staff []staffView `json:"staff"`
}

func (s *Server) listStaff(c *fiber.Ctx) error {
	m, err := s.pathMerchant(c)
	if err != nil {
		return err
	}
	list, err := s.db.ListStaff(c.UserContext(), m.ID)
	if err != nil {
		return err
	}
	out := staffList{Staff: make([]staffView, len(list))}
	for i, st := range list {
		out.Staff[i] = viewOfStaff(st)
	}
	return c.JSON(out)
}

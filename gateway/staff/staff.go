// Package staff is a merchant's staff: accounts with roles (owner,
// finance, cashier), passwords hashed with argon2id, console sessions and
// what each role may see. It knows no HTTP and no SQL: the store keeps
// accounts and sessions behind the Store port, the web console speaks
// cookies and forms.
package staff

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Roles.
const (
	RoleOwner   = "owner"   // everything, credentials included
	RoleFinance = "finance" // money: budget, payable, today's figures
	RoleCashier = "cashier" // today's earnings and redemptions only
)

// Roles lists every role.
var Roles = []string{RoleOwner, RoleFinance, RoleCashier}

// Views of the console, each allowed to some roles.
const (
	ViewToday       = "today"
	ViewFinance     = "finance"
	ViewCredentials = "credentials"
	ViewRules       = "rules"      // rule versions, drafts, simulation, publication
	ViewStatements  = "statements" // signed daily statements and their downloads
	ViewPayouts     = "payouts"    // payouts of the payable
	ViewPOS         = "pos"        // POS connections and their inbox
	ViewPurchases   = "purchases"  // the purchase history with how each purchase's points were computed
)

var allowed = map[string][]string{
	ViewToday:       {RoleOwner, RoleFinance, RoleCashier},
	ViewFinance:     {RoleOwner, RoleFinance},
	ViewCredentials: {RoleOwner},
	ViewRules:       {RoleOwner},
	ViewStatements:  {RoleOwner, RoleFinance},
	ViewPayouts:     {RoleOwner, RoleFinance},
	ViewPOS:         {RoleOwner},
	ViewPurchases:   {RoleOwner, RoleFinance, RoleCashier},
}

// Can reports whether role may open view.
func Can(role, view string) bool {
	for _, r := range allowed[view] {
		if r == role {
			return true
		}
	}
	return false
}

// Staff is one staff account of one merchant.
type Staff struct {
	ID           string
	MerchantID   string
	Login        string
	Role         string
	PasswordHash string // argon2id, PHC string format
	CreatedAt    time.Time
}

// Session is a signed-in staff member. The token itself is only in the
// cookie; the store keeps its SHA-256. CSRF is the token every form posts
// back.
type Session struct {
	TokenHash  string
	StaffID    string
	MerchantID string
	Login      string
	Role       string
	CSRF       string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// Store keeps accounts and sessions (the store implements it).
type Store interface {
	CreateStaff(ctx context.Context, s Staff, actor string) error
	StaffByLogin(ctx context.Context, merchantID, login string) (Staff, error)
	ListStaff(ctx context.Context, merchantID string) ([]Staff, error)
	CreateStaffSession(ctx context.Context, s Session) error
	StaffSession(ctx context.Context, tokenHash string) (Session, error)
	DeleteStaffSession(ctx context.Context, tokenHash string) error
}

// Errors.
var (
	ErrNotFound = errors.New("staff: not found")
	ErrExists   = errors.New("staff: login already taken at this merchant")
	ErrInvalid  = errors.New("staff: invalid")
)

var loginRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,31}$`)

// New makes an account after checking the login, role and password.
func New(id, merchantID, login, role, password string, now time.Time) (Staff, error) {
	if !loginRE.MatchString(login) {
		return Staff{}, fmt.Errorf("%w: login must be 2-32 lowercase letters, digits, '.', '_' or '-'", ErrInvalid)
	}
	if !validRole(role) {
		return Staff{}, fmt.Errorf("%w: role must be one of %s", ErrInvalid, strings.Join(Roles, ", "))
	}
	if n := utf8.RuneCountInString(password); n < 10 || n > 128 || !utf8.ValidString(password) {
		return Staff{}, fmt.Errorf("%w: password must be 10-128 characters", ErrInvalid)
	}
	h, err := HashPassword(password)
	if err != nil {
		return Staff{}, err
	}
	return Staff{ID: id, MerchantID: merchantID, Login: login, Role: role, PasswordHash: h, CreatedAt: now}, nil
}

func validRole(r string) bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

// argon2id parameters: RFC 9106's second recommended option (64 MiB,
// three passes) would cost every sign-in 64 MiB; OWASP's 19 MiB, two
// passes, one lane keeps a small gateway responsive under a burst of
// sign-ins and is still memory-hard.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

var b64 = base64.RawStdEncoding

// HashPassword hashes a password with argon2id and a random salt, in the
// PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
func HashPassword(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword checks password against a PHC argon2id string in
// constant time; anything malformed is false.
func VerifyPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 10 || p == 0 {
		return false
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash makes a failed sign-in for an unknown login cost as much as
// one with a wrong password, so timing does not tell which logins exist.
var dummyHash, _ = HashPassword("lianmeng-dummy-password")

// Authenticate checks a login and password at a merchant. Any failure is
// the same ErrNotFound, after the same work.
func Authenticate(ctx context.Context, st Store, merchantID, login, password string) (Staff, error) {
	s, err := st.StaffByLogin(ctx, merchantID, login)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Staff{}, err
	}
	if err != nil {
		VerifyPassword(dummyHash, password)
		return Staff{}, ErrNotFound
	}
	if !VerifyPassword(s.PasswordHash, password) {
		return Staff{}, ErrNotFound
	}
	return s, nil
}

// NewSession makes a session for s valid for ttl; token goes in the cookie
// and only its hash in the store.
func NewSession(s Staff, now time.Time, ttl time.Duration) (token string, sess Session, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Session{}, fmt.Errorf("session token: %w", err)
	}
	var c [24]byte
	if _, err := rand.Read(c[:]); err != nil {
		return "", Session{}, fmt.Errorf("csrf token: %w", err)
	}
	token = "sst_" + base64.RawURLEncoding.EncodeToString(b[:])
	return token, Session{TokenHash: TokenHash(token), StaffID: s.ID, MerchantID: s.MerchantID, Login: s.Login, Role: s.Role,
		CSRF: hex.EncodeToString(c[:]), CreatedAt: now, ExpiresAt: now.Add(ttl)}, nil
}

// TokenHash is what the store keeps of a session token.
func TokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// CheckCSRF compares a posted CSRF token with the session's in constant
// time.
func (s Session) CheckCSRF(posted string) bool {
	return posted != "" && subtle.ConstantTimeCompare([]byte(posted), []byte(s.CSRF)) == 1
}

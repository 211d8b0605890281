// Package pospaltest is a fake Pospal (银豹) open API on 127.0.0.1 for
// tests: it checks every request's data-signature (UPPER(MD5(appKey +
// body))), its time-stamp (within five minutes) and its appId, as Pospal
// does, and serves tickets page by page (queryTicketPages with a time
// window and postBackParameter) and the sale of a return ticket
// (querySellTicketByRefundTicketSn).
package pospaltest

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is the fake API.
type Server struct {
	*httptest.Server
	AppID, AppKey string
	PageSize      int

	mu       sync.Mutex
	tickets  []Ticket
	sales    map[string]string // return sn -> sale sn
	failNext int               // answer this many calls with HTTP 503
	errNext  int               // answer this many calls with status "error"
	calls    int
	refused  int
}

// Ticket is a ticket the fake serves.
type Ticket struct {
	UID        int64
	SN         string
	At         time.Time
	Total      string // yuan, written as a JSON number
	Type       string // SELL or SELL_RETURN
	Customer   int64
	Invalid    int
	SaleSN     string // for a return: the sale it returns
	ItemsJSON  string // optional raw items array
	storedJSON string
}

// New starts the fake on 127.0.0.1.
func New(appID, appKey string) *Server {
	s := &Server{AppID: appID, AppKey: appKey, PageSize: 100, sales: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Add makes tickets available.
func (s *Server) Add(ts ...Ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range ts {
		if t.Type == "" {
			t.Type = "SELL"
		}
		items := t.ItemsJSON
		if items == "" {
			items = "[]"
		}
		t.storedJSON = fmt.Sprintf(`{"uid":%d,"sn":%q,"datetime":%q,"totalAmount":%s,"ticketType":%q,"invalid":%d,"customerUid":%d,"items":%s,"payments":[{"code":"payCode_2","amount":%s}]}`,
			t.UID, t.SN, t.At.In(cst).Format(layout), t.Total, t.Type, t.Invalid, t.Customer, items, t.Total)
		if t.SaleSN != "" {
			s.sales[t.SN] = t.SaleSN
		}
		s.tickets = append(s.tickets, t)
	}
	sort.Slice(s.tickets, func(i, j int) bool { return s.tickets[i].UID < s.tickets[j].UID })
}

// Fail makes the next n calls answer HTTP 503; Error the next n answer
// status "error" (as Pospal does for a bad window or an exceeded quota).
func (s *Server) Fail(n int)  { s.mu.Lock(); s.failNext = n; s.mu.Unlock() }
func (s *Server) Error(n int) { s.mu.Lock(); s.errNext = n; s.mu.Unlock() }

// Calls is how many calls verified; Refused how many did not.
func (s *Server) Calls() (calls, refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.refused
}

var cst = time.FixedZone("CST", 8*3600)

const layout = "2006-01-02 15:04:05"

func (s *Server) answer(w http.ResponseWriter, status string, data any, msgs ...string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	if msgs == nil {
		msgs = []string{}
	}
	code := 0
	if status != "success" {
		code = 1032
	}
	json.NewEncoder(w).Encode(map[string]any{"status": status, "messages": msgs, "errorCode": code, "data": data})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := md5.Sum(append([]byte(s.AppKey), body...))
	want := strings.ToUpper(hex.EncodeToString(sum[:]))
	ms, err := strconv.ParseInt(r.Header.Get("time-stamp"), 10, 64)
	if r.Method != http.MethodPost || subtle.ConstantTimeCompare([]byte(r.Header.Get("data-signature")), []byte(want)) != 1 ||
		err != nil || time.Since(time.UnixMilli(ms)).Abs() > 5*time.Minute {
		s.refused++
		s.answer(w, "error", nil, "签名错误")
		return
	}
	var q struct {
		AppID     string `json:"appId"`
		StartTime string `json:"startTime"`
		EndTime   string `json:"endTime"`
		RefundSN  string `json:"refundTicketSn"`
		PostBack  *struct {
			ParameterType  string `json:"parameterType"`
			ParameterValue string `json:"parameterValue"`
		} `json:"postBackParameter"`
	}
	if err := json.Unmarshal(body, &q); err != nil || q.AppID != s.AppID {
		s.refused++
		s.answer(w, "error", nil, "appId 错误")
		return
	}
	s.calls++
	if s.failNext > 0 {
		s.failNext--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if s.errNext > 0 {
		s.errNext--
		s.answer(w, "error", nil, "请求太频繁")
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/ticketOpenApi/queryTicketPages"):
		start, err1 := time.ParseInLocation(layout, q.StartTime, cst)
		end, err2 := time.ParseInLocation(layout, q.EndTime, cst)
		if err1 != nil || err2 != nil || end.Before(start) || end.Sub(start) > 24*time.Hour {
			s.answer(w, "error", nil, "时间范围错误")
			return
		}
		var after int64
		if q.PostBack != nil {
			after, _ = strconv.ParseInt(q.PostBack.ParameterValue, 10, 64)
		}
		var page []json.RawMessage
		var last int64
		for _, t := range s.tickets {
			if t.UID <= after || t.At.Before(start) || !t.At.Before(end) {
				continue
			}
			if len(page) == s.PageSize {
				break
			}
			page = append(page, json.RawMessage(t.storedJSON))
			last = t.UID
		}
		if page == nil {
			page = []json.RawMessage{}
		}
		data := map[string]any{"result": page, "pageSize": s.PageSize}
		if last != 0 {
			data["postBackParameter"] = map[string]string{"parameterType": "LAST_RESULT_MAX_ID", "parameterValue": strconv.FormatInt(last, 10)}
		}
		s.answer(w, "success", data)
	case strings.HasSuffix(r.URL.Path, "/ticketOpenApi/querySellTicketByRefundTicketSn"):
		sale, ok := s.sales[q.RefundSN]
		if !ok {
			s.answer(w, "error", nil, "单据不存在")
			return
		}
		s.answer(w, "success", map[string]any{"sn": sale})
	default:
		http.NotFound(w, r)
	}
}

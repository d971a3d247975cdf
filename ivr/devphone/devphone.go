// Package devphone is the development keypad (kagi serve --dev): a page in the browser that
// plays a call on the voice line through the real webhook, with requests signed as Twilio signs
// them (package twiliosim), and shows what the caller would hear. It is never mounted outside
// development mode.
package devphone

import (
	"embed"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"kagi"

	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/ivr"
	"kagi/ivr/twiliosim"
	"kagi/notify"
	"kagi/web"
)

//go:embed index.html phone.js
var assets embed.FS

// callSidPattern is what the webhook accepts as a CallSid: the keypad forwards nothing else.
var callSidPattern = regexp.MustCompile(`^[A-Za-z0-9]{2,64}$`)

// Routes mounts /dev/phone (development mode only): a keypad page in the browser that
// plays a call through sim, i.e. through the real webhook with signed requests, and shows what
// the caller would hear. It also answers (or lets ring out) the line's call back to a number
// (§4.8), which development mode keeps in the mailbox of pool instead of placing.
func Routes(mux *http.ServeMux, log *slog.Logger, sim *twiliosim.Simulator, pool *pgxpool.Pool) {
	h := func(f web.HandlerFunc) http.Handler { return web.Browser(web.Handle(log, f)) }
	mux.Handle("GET /dev/phone", web.Browser(serveEmbedded("index.html", "text/html; charset=utf-8")))
	mux.Handle("GET /dev/phone/phone.js", web.Browser(serveEmbedded("phone.js", "text/javascript; charset=utf-8")))
	mux.Handle("POST /dev/phone/start", h(func(w http.ResponseWriter, r *http.Request) error {
		var req struct {
			From string `json:"from"`
		}
		if err := web.DecodeJSON(w, r, &req); err != nil {
			return err
		}
		sid := twiliosim.NewCallSid()
		turn, err := sim.Start(r.Context(), sid, req.From)
		if err != nil {
			return err
		}
		return web.JSON(w, http.StatusOK, map[string]any{"call_sid": sid, "turn": turnJSON(turn)})
	}))
	mux.Handle("POST /dev/phone/callback", h(devCallback(sim, pool)))
	mux.Handle("POST /dev/phone/dial", h(func(w http.ResponseWriter, r *http.Request) error {
		var req struct {
			CallSid string `json:"call_sid"`
			From    string `json:"from"`
			Action  string `json:"action"`
			Status  string `json:"status"`
		}
		if err := web.DecodeJSON(w, r, &req); err != nil {
			return err
		}
		if !strings.HasPrefix(req.Action, ivr.DialPath+"?seq=") || !callSidPattern.MatchString(req.CallSid) ||
			!slices.Contains([]string{"completed", "busy", "no-answer", "failed", "canceled"}, req.Status) {
			return kagi.Errorf(kagi.Invalid, "invalid_request", "入力内容をご確認ください。")
		}
		turn, err := sim.DialEnded(r.Context(), req.CallSid, req.From, twiliosim.Turn{DialAction: req.Action}, req.Status)
		if err != nil {
			return err
		}
		if !turn.Waiting() {
			if err := sim.End(r.Context(), req.CallSid, req.From); err != nil {
				return err
			}
		}
		return web.JSON(w, http.StatusOK, map[string]any{"turn": turnJSON(turn)})
	}))
	mux.Handle("POST /dev/phone/press", h(func(w http.ResponseWriter, r *http.Request) error {
		var req struct {
			CallSid string `json:"call_sid"`
			From    string `json:"from"`
			Gather  string `json:"gather"`
			Keys    string `json:"keys"`
		}
		if err := web.DecodeJSON(w, r, &req); err != nil {
			return err
		}
		callback := strings.HasPrefix(req.Gather, ivr.CallbackPath+"/gather?id=")
		if !strings.HasPrefix(req.Gather, ivr.GatherPath+"?seq=") && !callback || !callSidPattern.MatchString(req.CallSid) {
			return kagi.Errorf(kagi.Invalid, "invalid_request", "入力内容をご確認ください。")
		}
		turn, err := sim.Press(r.Context(), req.CallSid, req.From, twiliosim.Turn{Gather: req.Gather}, req.Keys)
		if err != nil {
			return err
		}
		// A call back's end was recorded by its confirmation; a call in reports its own, but a
		// call being transferred goes on until the transfer ends (POST /dev/phone/dial).
		if !turn.Waiting() && !callback && turn.DialAction == "" {
			if err := sim.End(r.Context(), req.CallSid, req.From); err != nil {
				return err
			}
		}
		return web.JSON(w, http.StatusOK, map[string]any{"turn": turnJSON(turn)})
	}))
}

// devCallback answers POST /dev/phone/callback {from, answer}: the newest call back the line
// placed to from is answered (its first turn comes back) or, without answer, rings out.
func devCallback(sim *twiliosim.Simulator, pool *pgxpool.Pool) web.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req struct {
			From   string `json:"from"`
			Answer bool   `json:"answer"`
		}
		if err := web.DecodeJSON(w, r, &req); err != nil {
			return err
		}
		msgs, err := notify.DevMessages(r.Context(), pool, 100)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			sid, c, ok := m.PlacedCall()
			if !ok || m.Recipient != req.From {
				continue
			}
			if !req.Answer {
				if err := sim.EndCallback(r.Context(), c.StatusURL, sid, req.From, "no-answer"); err != nil {
					return err
				}
				return web.JSON(w, http.StatusOK, map[string]any{"call_sid": sid, "turn": turnJSON(twiliosim.Turn{HungUp: true})})
			}
			turn, err := sim.AnswerCallback(r.Context(), c.URL, sid, req.From)
			if err != nil {
				return err
			}
			return web.JSON(w, http.StatusOK, map[string]any{"call_sid": sid, "turn": turnJSON(turn)})
		}
		return kagi.Errorf(kagi.NotFound, "not_found", "この番号への折り返し電話はありません。")
	}
}

func turnJSON(t twiliosim.Turn) map[string]any {
	return map[string]any{"said": t.Said, "gather": t.Gather, "waiting": t.Waiting(), "hung_up": t.HungUp, "dialled": t.Dialled, "dial_action": t.DialAction}
}

func serveEmbedded(name, contentType string) http.Handler {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Write(b)
	})
}

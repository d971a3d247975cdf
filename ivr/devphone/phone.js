"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let call = null;

  function show(label, turn) {
    const li = document.createElement("li");
    const head = document.createElement("strong");
    head.textContent = label;
    li.appendChild(head);
    for (const s of turn.said || []) {
      const p = document.createElement("p");
      p.textContent = "「" + s + "」";
      li.appendChild(p);
    }
    const end = document.createElement("p");
    end.textContent = turn.dialled ? "→ オペレーターに転送 (" + turn.dialled + ")" : turn.waiting ? "… キー入力待ち" : "→ 通話終了";
    li.appendChild(end);
    $("log").appendChild(li);
    $("keys").hidden = !turn.waiting;
    $("transfer").hidden = !turn.dial_action;
    if (turn.waiting) $("digits").focus();
  }

  async function post(path, body) {
    const res = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
    });
    const data = await res.json();
    if (!res.ok) throw new Error(data.message || res.status);
    return data;
  }

  $("dial").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("log").textContent = "";
    const from = $("from").value.trim();
    try {
      const data = await post("/dev/phone/start", {from});
      call = {sid: data.call_sid, from, turn: data.turn};
      show("呼び出し", data.turn);
    } catch (e) { alert(e.message); }
  });

  async function press(keys) {
    if (!call) return;
    try {
      const data = await post("/dev/phone/press", {call_sid: call.sid, from: call.from, gather: call.turn.gather, keys});
      call.turn = data.turn;
      show(keys ? "キー入力 " + keys : "入力なし", data.turn);
    } catch (e) { alert(e.message); }
  }

  $("keys").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const keys = $("digits").value.trim();
    $("digits").value = "";
    press(keys);
  });
  $("timeout").addEventListener("click", () => press(""));

  // The line's call back to the number in the dialler: answered, its turns go on with the keypad.
  async function callback(answer) {
    const from = $("from").value.trim();
    try {
      const data = await post("/dev/phone/callback", {from, answer});
      call = {sid: data.call_sid, from, turn: data.turn};
      show(answer ? "折り返し電話に応答" : "折り返し電話に応答なし", data.turn);
    } catch (e) { alert(e.message); }
  }
  // How the operator transfer ends, as Twilio would report it.
  async function dialEnded(status, label) {
    if (!call || !call.turn.dial_action) return;
    try {
      const data = await post("/dev/phone/dial", {call_sid: call.sid, from: call.from, action: call.turn.dial_action, status});
      call.turn = data.turn;
      show(label, data.turn);
    } catch (e) { alert(e.message); }
  }
  $("op-answer").addEventListener("click", () => dialEnded("completed", "オペレーターが応答し、通話を終了"));
  $("op-busy").addEventListener("click", () => dialEnded("busy", "オペレーター話し中"));
  $("op-no-answer").addEventListener("click", () => dialEnded("no-answer", "オペレーター応答なし"));
  $("answer").addEventListener("click", () => callback(true));
  $("ignore").addEventListener("click", () => callback(false));
})();

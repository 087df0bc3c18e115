// The phone page: a tap is posted to the dashboard, which stores it in the hub before it answers OK.
// Refusals come back in the phone's language ({"error": "..."}) and are shown as they are.
"use strict";

(() => {
  const main = document.getElementById("phone");
  if (main.dataset.stage === "refused") return;
  const base = window.location.pathname.replace(/\/+$/, "");
  const refusal = document.getElementById("refusal");
  let rating = null, question = null, reason = null;

  async function post(path, body) {
    let response;
    try {
      response = await fetch(base + path, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch {
      refusal.textContent = main.dataset.failed;
      return null;
    }
    const data = await response.json().catch(() => ({}));
    refusal.textContent = response.ok ? "" : (data.error || main.dataset.failed);
    main.dataset.last = response.ok ? "ok" : (data.code || String(response.status));
    return response.ok ? data : null;
  }

  function show(stage) {
    main.dataset.stage = stage;
    if (stage === "comment") document.getElementById("comment-text").focus();
  }

  function ask() {
    document.getElementById("question-text").textContent = question.text;
    document.getElementById("options").replaceChildren(...question.options.map((option) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.reason = option.id;
      button.textContent = option.text;
      button.setAttribute("aria-pressed", "false");
      return button;
    }));
    show("question");
  }

  main.addEventListener("click", async (event) => {
    const target = event.target.closest("button");
    if (!target || target.disabled) return;
    target.disabled = true;  // one tap, one post: a double tap on a slow network sends nothing twice
    try {
      if (target.dataset.score) {
        const data = await post("/rate", { score: Number(target.dataset.score) });
        if (!data) return;
        rating = data.rating;
        question = data.question;
        if (question) ask(); else show("thanks");
      } else if (target.dataset.reason) {
        target.setAttribute("aria-pressed", "true");
        reason = target.dataset.reason;
        if (!(await post("/answer", { rating, reason }))) return;
        show(question.comment ? "comment" : "thanks");
      } else if (target.dataset.action === "send") {
        const comment = document.getElementById("comment-text").value.trim();
        if (comment && !(await post("/answer", { rating, reason, comment }))) return;
        show("thanks");
      } else if (target.dataset.action === "skip") {
        show("thanks");
      }
    } finally {
      target.disabled = false;
    }
  });
})();

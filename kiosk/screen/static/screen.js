// The touch page draws what the kiosk process says; every tap is stored there before it answers.
"use strict";

(() => {
  const main = document.getElementById("screen");
  let state = { stage: "idle" };
  let timer = null;

  async function call(path, body) {
    const init = body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    };
    const response = await fetch(path, init);
    const data = await response.json();
    // 409: the press on the screen timed out; whatever the kiosk says now is the truth.
    return response.ok ? data : call("/api/state");
  }

  function draw(next) {
    state = next;
    main.dataset.stage = state.stage;
    if (state.question) {
      document.getElementById("question-text").textContent = state.question.text;
      const options = document.getElementById("options");
      options.replaceChildren(...state.question.options.map((option) => {
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.reason = option.id;
        button.textContent = option.text;
        button.setAttribute("aria-pressed", String(option.id === state.reason));
        return button;
      }));
    }
    if (state.stage === "comment") document.getElementById("comment-text").focus();
    if (state.stage !== "comment") document.getElementById("comment-text").value = "";
    arm();
  }

  // Back to the smileys when nobody taps: the kiosk ends the session by the same clock.
  function arm() {
    clearTimeout(timer);
    if (state.stage === "idle") return;
    const seconds = state.stage === "thanks" ? state.thanks_s : state.idle_s;
    timer = setTimeout(async () => draw(await call("/api/state")), seconds * 1000 + 100);
  }

  main.addEventListener("click", async (event) => {
    const target = event.target.closest("button");
    if (!target) return;
    if (target.dataset.score) {
      draw(await call("/api/rate", { score: Number(target.dataset.score) }));
    } else if (target.dataset.reason) {
      draw(await call("/api/answer", { rating: state.rating, reason: target.dataset.reason }));
    } else if (target.dataset.action === "send") {
      const comment = document.getElementById("comment-text").value;
      draw(await call("/api/answer", { rating: state.rating, comment }));
    } else if (target.dataset.key !== undefined || target.dataset.action === "backspace") {
      type(target.dataset.key);
    } else if (target.dataset.action === "skip") {
      draw(await call("/api/answer", { rating: state.rating }));
    }
  });
  // A key of the on-screen keyboard (none: backspace), typed where the cursor is.
  function type(key) {
    const box = document.getElementById("comment-text");
    const start = box.selectionStart, end = box.selectionEnd;
    if (key === undefined) {
      if (start === end && start > 0) box.setRangeText("", start - 1, end, "end");
      else box.setRangeText("", start, end, "end");
    } else if (box.value.length < box.maxLength) {
      box.setRangeText(key, start, end, "end");
    }
    box.dispatchEvent(new Event("input"));
  }

  let lastAlive = 0;
  document.getElementById("comment-text").addEventListener("input", () => {
    arm();
    if (Date.now() - lastAlive > 2000) {
      lastAlive = Date.now();
      call("/api/alive", { rating: state.rating });
    }
  });

  call("/api/state").then(draw);
})();

// @ts-check
// reloadkit status page: renders the `status` snapshots, `pass` events and
// (with a fleet) `fleet` events of GET /events, and sends reloads and fleet
// commands when the server allows them. No framework, no storage: the token
// lives only in its input field.
'use strict';

/**
 * @typedef {{ name: string, status: string, error?: string, duration_ms: number }} Outcome
 * @typedef {{ unit: string, generation: number, status: string, trigger: string, outcomes: Outcome[],
 *   requires_restart: string[], load_error?: string, error?: string, changed: string[],
 *   started_at: string, ended_at: string, duration_ms: number, coalesced: number }} Result
 * @typedef {{ state: string, reason?: string }} Watch
 * @typedef {{ generation: number, last_result: Result | null, pending_restart: string[], watch: Watch }} UnitStatus
 * @typedef {{ uptime_secs: number, targets: number, units: Record<string, UnitStatus>,
 *   ready: { ok: boolean, reasons: string[], degraded: string[] }, timeline: Result[],
 *   actions: { reload: boolean, token: boolean }, now: string }} Status
 * @typedef {{ root: HTMLElement, badge: HTMLElement, gen: HTMLElement, when: HTMLTimeElement,
 *   trigger: HTMLElement, duration: HTMLElement, watch: HTMLElement, pending: HTMLElement,
 *   changed: HTMLElement, problem: HTMLElement, where: HTMLElement, message: HTMLElement,
 *   button: HTMLButtonElement, confirm: HTMLOutputElement, endedAt: string | null }} Card
 * @typedef {{ host: string, step: string, message: string }} HaltReason
 * @typedef {{ id: string, kind: string, from: number, to: number, state: string, reason?: string, failure?: HaltReason,
 *   canary: number, batch: number, canaries: string[], hosts: Record<string, string>, counts: Record<string, number> }} Rollout
 * @typedef {{ revision: number, status: string, reason?: string }} HostTarget
 * @typedef {{ fleet: string, connected: boolean, error?: string,
 *   hosts: Record<string, { alive: boolean, targets: Record<string, HostTarget> }>,
 *   targets: Record<string, { revision: number, desired: number, driver: string | null, rollout: Rollout | null }> }} Fleet
 * @typedef {{ root: HTMLElement, badge: HTMLElement, rid: HTMLElement, revs: HTMLElement, progress: HTMLElement,
 *   how: HTMLElement, driver: HTMLElement, problem: HTMLElement, where: HTMLElement, message: HTMLElement, order: HTMLElement,
 *   buttons: HTMLButtonElement[], confirm: HTMLOutputElement, busy: boolean }} RolloutCard
 */

/** Status → [label, tone]. Tone is the colour; the label says the same in words. */
/** @type {Record<string, [string, string]>} */
const STATUSES = {
  full_success: ['success', 'ok'],
  unchanged: ['unchanged', 'none'],
  partial_applied: ['partially applied', 'warn'],
  rolled_back: ['rolled back', 'warn'],
  apply_failed: ['apply failed', 'fail'],
  validation_failed: ['invalid config', 'fail'],
  load_failed: ['load failed', 'fail'],
};
/** Rollout and host states → tone (the words are shown as they are). */
/** @type {Record<string, string>} */
const FLEET_TONES = {
  running: 'warn',
  paused: 'warn',
  halted: 'fail',
  aborted: 'fail',
  done: 'ok',
  applying: 'warn',
  pending: 'none',
  failed: 'fail',
  lost: 'fail',
  drift: 'warn',
  idle: 'none',
};
/** Which commands each rollout state allows (as `reloadkit fleet pause|resume|abort` does). */
/** @type {Record<string, string[]>} */
const COMMANDS = { running: ['pause', 'abort'], paused: ['resume', 'abort'] };
const TIMELINE_ROWS = 12;
const TIMELINE_KEEP = 20;
/** A file name with an extension, then :line and an optional :column. */
const LOCATION = /([\w./~@+-]*\w\.\w+):(\d+)(?::(\d+))?/;
/**
 * nginx's own complaint inside a longer error (after the command line it ran),
 * without its time and pid, up to the end of its line (output lines are joined by " | ").
 */
const NGINX_COMPLAINT = /\[(emerg|alert|crit|error)\] \d+#\d+: (.+?)(?= \| |\n|$)/;

/** @param {string} id */
function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

/**
 * @template {Element} [T=HTMLElement]
 * @param {ParentNode} root
 * @param {string} selector
 * @returns {T}
 */
function find(root, selector) {
  const el = root.querySelector(selector);
  if (!el) throw new Error(`missing ${selector}`);
  return /** @type {T} */ (el);
}

/** @param {string} status */
function describe(status) {
  return STATUSES[status] ?? [status, 'fail'];
}

/** @param {number} ms */
function duration(ms) {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** @param {number} secs */
function span(secs) {
  if (secs < 60) return `${secs} s`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min`;
  if (secs < 86_400) return `${Math.floor(secs / 3600)} h ${Math.floor((secs % 3600) / 60)} min`;
  return `${Math.floor(secs / 86_400)} d ${Math.floor((secs % 86_400) / 3600)} h`;
}

/** @param {string} iso */
function clock(iso) {
  return new Date(iso).toLocaleTimeString(undefined, { hour12: false });
}

const state = {
  /** @type {Status | null} */ status: null,
  /** When the last status arrived (this page's clock). */
  receivedAt: 0,
  /** Server clock minus this page's clock, so "ago" is right on a skewed client. */
  skew: 0,
  /** @type {Result[]} */ timeline: [],
  /** @type {Map<string, Card>} */ cards: new Map(),
  /** @type {Fleet | null} */ fleet: null,
  /** @type {Map<string, RolloutCard>} */ rollouts: new Map(),
};

const now = () => Date.now() + state.skew;

/** @param {string} iso */
function ago(iso) {
  const secs = Math.max(0, Math.round((now() - Date.parse(iso)) / 1000));
  return secs < 2 ? 'just now' : `${span(secs)} ago`;
}

// ---- connection -----------------------------------------------------------

/** @param {'connecting' | 'live' | 'down'} s @param {string} text */
function setConnection(s, text) {
  byId('conn').dataset.state = s;
  byId('conn-text').textContent = text;
  document.body.dataset.stale = s === 'live' ? '' : 'yes';
}

/**
 * Renderers by event name. A snapshot kind the server does not send (a
 * fleet, when none is configured) never arrives, and its section stays hidden.
 * @type {Record<string, (data: unknown) => void>}
 */
const handlers = {
  status: (data) => renderStatus(/** @type {Status} */ (data)),
  pass: (data) => addPass(/** @type {Result} */ (data)),
  fleet: (data) => renderFleet(/** @type {Fleet} */ (data)),
};

function connect() {
  const es = new EventSource('events');
  es.addEventListener('open', () => setConnection('live', 'Live'));
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) {
      // Refused (too many viewers) or the server is gone: try again later, with a fresh snapshot.
      setConnection('down', 'Offline');
      setTimeout(connect, 5000);
    } else {
      setConnection('connecting', 'Reconnecting…');
    }
  });
  for (const [name, fn] of Object.entries(handlers)) {
    es.addEventListener(name, (ev) => fn(JSON.parse(/** @type {MessageEvent<string>} */ (ev).data)));
  }
}

// ---- status ---------------------------------------------------------------

/** @param {Status} s */
function renderStatus(s) {
  state.status = s;
  state.receivedAt = Date.now();
  state.skew = Date.parse(s.now) - state.receivedAt;
  const ready = byId('ready');
  // Ready means "serving a valid config"; a refused reload leaves it ready but degraded.
  const degraded = s.ready.ok && s.ready.degraded.length > 0;
  ready.dataset.ok = !s.ready.ok ? 'no' : degraded ? 'degraded' : 'yes';
  ready.textContent = !s.ready.ok ? 'Not ready' : degraded ? 'Degraded' : 'Ready';
  ready.title = degraded ? 'Ready: serving a valid config, with the problems listed beside it' : '';
  const why = s.ready.ok ? s.ready.degraded : s.ready.reasons;
  const reasons = byId('reasons');
  reasons.textContent = why.join('; ');
  reasons.title = why.join('\n');
  byId('auth').hidden = !(s.actions.reload && s.actions.token);

  const units = byId('units');
  const names = Object.keys(s.units);
  byId('units-empty').hidden = names.length > 0;
  for (const [name, card] of state.cards) {
    if (!(name in s.units)) {
      card.root.remove();
      state.cards.delete(name);
    }
  }
  /** @type {Element | null} */
  let prev = null;
  for (const name of names) {
    let card = state.cards.get(name);
    if (!card) {
      card = createCard(name);
      state.cards.set(name, card);
    }
    /** @type {Element | null} */
    const want = prev ? prev.nextElementSibling : units.firstElementChild;
    if (want !== card.root) units.insertBefore(card.root, want);
    prev = card.root;
    const u = /** @type {UnitStatus} */ (s.units[name]);
    card.gen.textContent = String(u.generation);
    card.watch.textContent = u.watch.state === 'polling' ? 'polling' : u.watch.state;
    card.watch.title = u.watch.reason ?? '';
    setList(card.pending, u.pending_restart, 'none');
    card.button.hidden = !s.actions.reload;
    showResult(card, u.last_result);
  }
  state.timeline = s.timeline.slice(-TIMELINE_KEEP);
  renderTimeline();
  if (state.fleet) renderFleet(state.fleet);
  tick();
}

/** @param {string} name @returns {Card} */
function createCard(name) {
  const tpl = /** @type {HTMLTemplateElement} */ (byId('unit-template'));
  const root = /** @type {HTMLElement} */ (find(tpl.content, '.unit').cloneNode(true));
  root.dataset.unit = name;
  const h = find(root, '.name');
  h.textContent = name;
  h.id = `unit-${name}`;
  root.setAttribute('aria-labelledby', h.id);
  /** @type {Card} */
  const card = {
    root,
    badge: find(root, '.badge'),
    gen: find(root, '.gen'),
    when: find(root, '.when'),
    trigger: find(root, '.trigger'),
    duration: find(root, '.duration'),
    watch: find(root, '.watch'),
    pending: find(root, '.pending'),
    changed: find(root, '.changed'),
    problem: find(root, '.problem'),
    where: find(root, '.where'),
    message: find(root, '.message'),
    button: find(root, '.reload'),
    confirm: find(root, '.confirm'),
    endedAt: null,
  };
  card.button.setAttribute('aria-label', `Reload ${name}`);
  card.button.addEventListener('click', () => void reload(name, card));
  return card;
}

/** @param {HTMLElement} el @param {readonly string[]} items @param {string} empty */
function setList(el, items, empty) {
  el.textContent = items.length === 0 ? empty : items.length <= 3 ? items.join(', ') : `${items.slice(0, 3).join(', ')} +${items.length - 3} more`;
  el.title = items.join('\n');
}

/** @param {Card} card @param {Result | null} r */
function showResult(card, r) {
  const [label, tone] = r ? describe(r.status) : ['no reload yet', 'none'];
  card.root.dataset.tone = tone;
  card.badge.textContent = label;
  card.badge.title = r ? r.status : '';
  card.endedAt = r ? r.ended_at : null;
  card.when.dateTime = r ? r.ended_at : '';
  card.when.title = r ? new Date(r.ended_at).toLocaleString() : '';
  card.when.textContent = r ? ago(r.ended_at) : '–';
  card.trigger.textContent = r ? r.trigger + (r.coalesced > 0 ? ` (+${r.coalesced})` : '') : '–';
  card.duration.textContent = r ? duration(r.duration_ms) : '–';
  setList(card.changed, r ? r.changed : [], r ? 'nothing' : '–');
  const text = r ? (r.load_error ?? r.error ?? failedHooks(r)) : undefined;
  card.problem.dataset.has = text ? 'yes' : '';
  card.message.textContent = text ? complaintFirst(text) : 'No error.';
  // Scrollable only when it holds an error: then keyboard users can scroll it too.
  if (text) {
    card.message.tabIndex = 0;
    card.message.setAttribute('aria-label', `Error of ${r?.unit}`);
  } else {
    card.message.removeAttribute('tabindex');
    card.message.removeAttribute('aria-label');
  }
  const loc = text ? LOCATION.exec(text) : null;
  if (loc) {
    const file = /** @type {string} */ (loc[1]);
    card.where.textContent = `${file.slice(file.lastIndexOf('/') + 1)}:${loc[2]}${loc[3] ? `:${loc[3]}` : ''}`;
    card.where.title = loc[0];
  } else {
    card.where.textContent = '';
    card.where.title = '';
  }
}

/**
 * An error as shown in a card: nginx's complaint first when the text holds
 * one, since the box shows only its first lines and the command line that
 * nginx -t ran comes before it.
 * @param {string} text
 */
function complaintFirst(text) {
  const m = NGINX_COMPLAINT.exec(text);
  return m ? `[${m[1]}] ${m[2]}\n\n${text}` : text;
}

/** @param {Result} r */
function failedHooks(r) {
  const failed = r.outcomes.filter((o) => o.status === 'failed');
  return failed.length === 0 ? undefined : failed.map((o) => `${o.name}: ${o.error ?? 'failed'}`).join('\n');
}

// ---- passes ---------------------------------------------------------------

/** @param {Result} r */
function addPass(r) {
  const card = state.cards.get(r.unit);
  if (card) {
    showResult(card, r);
    card.gen.textContent = String(r.generation);
  }
  state.timeline.push(r);
  if (state.timeline.length > TIMELINE_KEEP) state.timeline.shift();
  renderTimeline();
}

/** The rows exist from the start and are only rewritten, so new passes move nothing on the page. */
function renderTimeline() {
  const ol = byId('timeline');
  while (ol.children.length < TIMELINE_ROWS) {
    const li = document.createElement('li');
    for (const cls of ['t', 'u', 'st', 'bar']) {
      const sp = document.createElement('span');
      sp.className = cls;
      li.append(sp);
    }
    const bar = find(li, '.bar');
    bar.append(document.createElement('i'), document.createElement('b'));
    ol.append(li);
  }
  const recent = state.timeline.slice(-TIMELINE_ROWS).reverse();
  for (let i = 0; i < TIMELINE_ROWS; i++) {
    const li = /** @type {HTMLElement} */ (ol.children[i]);
    const r = recent[i];
    const [t, u, st, bar] = /** @type {HTMLElement[]} */ ([...li.children]);
    if (!t || !u || !st || !bar) continue;
    if (!r) {
      const first = i === 0 && recent.length === 0;
      li.className = first ? '' : 'blank';
      t.textContent = first ? 'No passes yet' : '';
      u.textContent = st.textContent = '';
      find(bar, 'b').textContent = '';
      find(bar, 'i').style.width = '0';
      continue;
    }
    const [label, tone] = describe(r.status);
    li.className = '';
    t.textContent = clock(r.ended_at);
    t.title = new Date(r.ended_at).toLocaleString();
    u.textContent = r.unit;
    st.dataset.tone = tone;
    st.textContent = tone === 'fail' ? `✕ ${label}` : label;
    st.title = r.load_error ?? r.error ?? r.status;
    bar.dataset.tone = tone;
    // Log scale from 1 ms to 60 s, at most 6rem.
    const frac = Math.min(1, Math.max(0.02, Math.log10(Math.max(1, r.duration_ms)) / Math.log10(60_000)));
    find(bar, 'i').style.width = `${(frac * 6).toFixed(2)}rem`;
    find(bar, 'b').textContent = duration(r.duration_ms);
  }
}

// ---- actions --------------------------------------------------------------

/** @param {HTMLOutputElement} out @param {string} text @param {string} tone */
function setConfirm(out, text, tone) {
  out.textContent = text;
  out.title = text;
  out.dataset.tone = tone;
}

/** @param {Card} card @param {string} text @param {string} tone */
function confirmText(card, text, tone) {
  setConfirm(card.confirm, text, tone);
}

/** @param {string} name @param {Card} card */
async function reload(name, card) {
  card.button.disabled = true;
  confirmText(card, 'Reloading…', 'none');
  /** @type {Record<string, string>} */
  const headers = {};
  const token = /** @type {HTMLInputElement} */ (byId('token')).value.trim();
  if (token !== '') headers.authorization = `Bearer ${token}`;
  try {
    const res = await fetch(`reload?unit=${encodeURIComponent(name)}`, { method: 'POST', headers, cache: 'no-store' });
    /** @type {{ status?: string, message?: string, results?: Record<string, Result> } | null} */
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    const r = body?.results?.[name];
    if (res.status === 401) {
      confirmText(card, 'Refused: the token is missing or wrong (401). Nothing was reloaded.', 'fail');
    } else if (res.status === 403) {
      confirmText(card, 'Refused: reload over HTTP is disabled (403).', 'fail');
    } else if (r) {
      const [label, tone] = describe(r.status);
      const why = r.load_error ?? r.error;
      const good = tone === 'ok' || tone === 'none';
      confirmText(
        card,
        `${label} at ${clock(r.ended_at)}: generation ${r.generation}, ${duration(r.duration_ms)}${why ? ` — ${why}` : ''}`,
        good ? 'ok' : 'fail',
      );
    } else {
      confirmText(card, `Failed (${res.status}): ${body?.message ?? res.statusText}`, 'fail');
    }
  } catch (err) {
    confirmText(card, `Could not reach the server: ${err instanceof Error ? err.message : String(err)}`, 'fail');
  } finally {
    card.button.disabled = false;
  }
}

// ---- fleet ----------------------------------------------------------------

/** @param {string} tag @param {string} text @param {string} [tone] */
function cell(tag, text, tone) {
  const el = document.createElement(tag);
  el.textContent = text;
  if (tone) el.dataset.tone = tone;
  return el;
}

/** Canaries first (in their order), then the others by name. @param {Rollout} r */
function rolloutOrder(r) {
  const canaries = r.canaries.filter((h) => h in r.hosts);
  const rest = Object.keys(r.hosts)
    .filter((h) => !canaries.includes(h))
    .sort();
  return [...canaries, ...rest];
}

/** @param {Fleet} f */
function renderFleet(f) {
  state.fleet = f;
  byId('fleet').hidden = false;
  byId('fleet-name').textContent = f.fleet;
  byId('fleet-conn').textContent = f.connected ? 'Connected to etcd.' : `Not connected to etcd (${f.error ?? 'unknown reason'}): this host's own view only.`;
  const targets = Object.keys(f.targets);
  const hosts = new Set(Object.keys(f.hosts));
  for (const h of Object.values(f.hosts)) for (const t of Object.keys(h.targets)) if (!targets.includes(t)) targets.push(t);
  for (const t of Object.values(f.targets)) for (const h of Object.keys(t.rollout?.hosts ?? {})) hosts.add(h);

  const table = /** @type {HTMLElement} */ (byId('fleet-head').closest('table'));
  table.style.minWidth = `${11 + 7 * targets.length}rem`;
  const head = byId('fleet-head');
  head.replaceChildren(...['Host', 'Alive', ...targets].map((t) => Object.assign(cell('th', t), { scope: 'col' })));
  const rows = [...hosts].sort().map((name) => {
    const h = f.hosts[name];
    const tr = document.createElement('tr');
    tr.dataset.host = name;
    tr.append(Object.assign(cell('th', name), { scope: 'row' }), cell('td', h?.alive ? 'yes' : 'no (lost)', h?.alive ? 'ok' : 'fail'));
    for (const t of targets) {
      const st = h?.targets[t];
      const td = st ? cell('td', `r${st.revision} ${st.status}`, FLEET_TONES[st.status] ?? 'none') : cell('td', '–');
      td.dataset.target = t;
      td.title = st?.reason ?? td.textContent ?? '';
      tr.append(td);
    }
    return tr;
  });
  byId('fleet-rows').replaceChildren(...rows);

  const box = byId('rollouts');
  const shown = targets.filter((t) => f.targets[t]?.rollout);
  for (const [t, card] of state.rollouts) {
    if (!shown.includes(t)) {
      card.root.remove();
      state.rollouts.delete(t);
    }
  }
  const actions = state.status?.actions.reload ?? false;
  shown.forEach((t, i) => {
    let card = state.rollouts.get(t);
    if (!card) {
      card = createRolloutCard(t);
      state.rollouts.set(t, card);
    }
    if (box.children[i] !== card.root) box.insertBefore(card.root, box.children[i] ?? null);
    const target = f.targets[t];
    if (target?.rollout) showRollout(card, target.rollout, target.driver, actions);
  });
}

/** @param {string} target @returns {RolloutCard} */
function createRolloutCard(target) {
  const tpl = /** @type {HTMLTemplateElement} */ (byId('rollout-template'));
  const root = /** @type {HTMLElement} */ (find(tpl.content, '.rollout').cloneNode(true));
  root.dataset.target = target;
  const h = find(root, '.name');
  h.textContent = target;
  h.id = `rollout-${target}`;
  root.setAttribute('aria-labelledby', h.id);
  /** @type {RolloutCard} */
  const card = {
    root,
    badge: find(root, '.badge'),
    rid: find(root, '.rid'),
    revs: find(root, '.revs'),
    progress: find(root, '.progress'),
    how: find(root, '.how'),
    driver: find(root, '.driver'),
    problem: find(root, '.problem'),
    where: find(root, '.where'),
    message: find(root, '.message'),
    order: find(root, '.order'),
    buttons: [...root.querySelectorAll('button')],
    confirm: find(root, '.confirm'),
    busy: false,
  };
  for (const b of card.buttons) {
    const cmd = b.dataset.cmd ?? '';
    b.setAttribute('aria-label', `${b.textContent} the rollout of ${target}`);
    b.addEventListener('click', () => {
      if (cmd === 'abort' && !armAbort(b, target, card)) return;
      void steer(target, cmd, card);
    });
  }
  return card;
}

const ABORT_CONFIRM_MS = 5000;

/**
 * Abort cannot be undone (resume does not restart an aborted rollout), so it
 * takes two presses: the first one arms the button and says what it will
 * do, a second one within 5 s aborts. True when this press is the second.
 * @param {HTMLButtonElement} b @param {string} target @param {RolloutCard} card
 */
function armAbort(b, target, card) {
  if (b.dataset.armed === 'yes') {
    disarmAbort(b, target);
    return true;
  }
  b.dataset.armed = 'yes';
  b.textContent = 'Confirm abort';
  b.setAttribute('aria-label', `Confirm: abort the rollout of ${target}`);
  setConfirm(card.confirm, `Abort for good? Press again within ${ABORT_CONFIRM_MS / 1000} s.`, 'warn');
  setTimeout(() => {
    if (b.dataset.armed !== 'yes') return;
    disarmAbort(b, target);
    setConfirm(card.confirm, 'Not aborted (not confirmed in time).', 'none');
  }, ABORT_CONFIRM_MS);
  return false;
}

/** @param {HTMLButtonElement} b @param {string} target */
function disarmAbort(b, target) {
  delete b.dataset.armed;
  b.textContent = 'Abort';
  b.setAttribute('aria-label', `Abort the rollout of ${target}`);
}

/** @param {RolloutCard} card @param {Rollout} r @param {string | null} driver @param {boolean} actions */
function showRollout(card, r, driver, actions) {
  const tone = FLEET_TONES[r.state] ?? 'none';
  card.root.dataset.tone = tone;
  card.root.dataset.state = r.state;
  card.badge.textContent = r.state;
  card.rid.textContent = `${r.id} (${r.kind})`;
  card.revs.textContent = `${r.from} → ${r.to}`;
  const total = Object.keys(r.hosts).length;
  const extra = ['applying', 'failed', 'lost'].filter((k) => (r.counts[k] ?? 0) > 0).map((k) => `, ${r.counts[k]} ${k}`);
  card.progress.textContent = `${r.counts.done ?? 0}/${total} done${extra.join('')}`;
  card.how.textContent = `canary ${r.canary}, batch ${r.batch}`;
  card.driver.textContent = driver ?? 'none now';
  const f = r.state === 'halted' ? r.failure : undefined;
  const text = f ? f.message : r.reason;
  card.problem.dataset.has = f || r.state === 'aborted' ? 'yes' : '';
  card.where.textContent = f ? `Halted: ${f.host || 'fleet'}, step ${f.step}` : r.state === 'aborted' ? 'Aborted' : '';
  card.message.textContent = text ? complaintFirst(text) : 'No problem.';
  if (text) {
    card.message.tabIndex = 0;
    card.message.setAttribute('aria-label', `Why the rollout of ${card.root.dataset.target} stopped`);
  } else {
    card.message.removeAttribute('tabindex');
    card.message.removeAttribute('aria-label');
  }
  const items = rolloutOrder(r).map((h) => {
    const st = r.hosts[h] ?? 'pending';
    const li = document.createElement('li');
    li.dataset.host = h;
    li.dataset.state = st;
    li.append(cell('span', h), cell('span', r.canaries.includes(h) ? 'canary' : ''), cell('span', st, FLEET_TONES[st] ?? 'none'));
    return li;
  });
  card.order.replaceChildren(...items);
  const allowed = actions ? (COMMANDS[r.state] ?? []) : [];
  const focused = card.buttons.some((b) => b === document.activeElement);
  for (const b of card.buttons) b.hidden = !allowed.includes(b.dataset.cmd ?? '');
  // Pause became Resume under the keyboard's focus: the focus stays in the card.
  if (focused && !card.buttons.some((b) => b === document.activeElement)) (card.buttons.find((b) => !b.hidden) ?? card.message).focus();
}

/** @param {string} target @param {string} cmd @param {RolloutCard} card */
async function steer(target, cmd, card) {
  // Not disabled while it runs (that would drop the keyboard's focus): a second press waits for the first.
  if (card.busy) return;
  card.busy = true;
  setConfirm(card.confirm, `${cmd}…`, 'none');
  /** @type {Record<string, string>} */
  const headers = {};
  const token = /** @type {HTMLInputElement} */ (byId('token')).value.trim();
  if (token !== '') headers.authorization = `Bearer ${token}`;
  try {
    const res = await fetch(`fleet/${cmd}?target=${encodeURIComponent(target)}`, { method: 'POST', headers, cache: 'no-store' });
    /** @type {{ status?: string, message?: string, rollout?: string, state?: string } | null} */
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (res.ok && body?.rollout) setConfirm(card.confirm, `Done at ${clock(new Date().toISOString())}: rollout ${body.rollout} is ${body.state}.`, 'ok');
    else if (res.status === 401) setConfirm(card.confirm, 'Refused: the token is missing or wrong (401). Nothing changed.', 'fail');
    else setConfirm(card.confirm, `Refused (${res.status}): ${body?.message ?? res.statusText}`, 'fail');
  } catch (err) {
    setConfirm(card.confirm, `Could not reach the server: ${err instanceof Error ? err.message : String(err)}`, 'fail');
  } finally {
    card.busy = false;
  }
}

// ---- clock ----------------------------------------------------------------

/** Relative times and the uptime move on by themselves between events. */
function tick() {
  for (const card of state.cards.values()) if (card.endedAt) card.when.textContent = ago(card.endedAt);
  const s = state.status;
  if (s) {
    const up = s.uptime_secs + Math.floor((Date.now() - state.receivedAt) / 1000);
    byId('facts').textContent = `· ${s.targets} target${s.targets === 1 ? '' : 's'} · up ${span(up)}`;
  }
}

byId('auth').addEventListener('submit', (ev) => ev.preventDefault());
setInterval(tick, 1000);
renderTimeline();
connect();

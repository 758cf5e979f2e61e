// The live topology page: logs in through the master's JSON-RPC API, follows event.from, and
// draws the model (../model.ts) with cytoscape, laid out by ELK's layered algorithm. It reads
// only what the user's role may read: every record comes through the API with the user's session.
import cytoscape from 'cytoscape';
import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkNode } from 'elkjs/lib/elk-api.js';
import { applyEvents, buildTopology, emptyRecords, parseWiring, TOPOLOGY_CLASSES,
  type LabWiring, type Records, type Topology, type TopologyEvent } from '../model.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const statusLine = $('status');
const loginForm = $<HTMLFormElement>('login');
const view = $('view');
const fields = $('fields');

// ---- the API ----

class ApiFailure extends Error {
  constructor(readonly description: string[]) { super(description.join(' ')); }
}

let rpcId = 0;
async function rpc(method: string, params: unknown[], signal?: AbortSignal): Promise<unknown> {
  const res = await fetch('/jsonrpc', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, signal,
    body: JSON.stringify({ jsonrpc: '2.0', method, params, id: ++rpcId }),
  });
  const body = await res.json() as { result?: unknown; error?: { message?: unknown; data?: unknown } };
  if (body.error) {
    const e = body.error;
    throw new ApiFailure([String(e.message ?? 'error'), ...(Array.isArray(e.data) ? e.data.map(String) : [])]);
  }
  return body.result;
}

/** Set once the master said it has no lab wiring (an ordinary pool): not asked again. */
let noWiring = false;

/** The lab's wiring, when the master publishes one. */
async function fetchWiring(session: string): Promise<LabWiring | undefined> {
  if (noWiring) return undefined;
  const res = await fetch('lab.json', { headers: { 'X-XenAPI-Session': session }, cache: 'no-store' });
  if (res.status === 404) { noWiring = true; return undefined; }
  if (!res.ok) throw new Error(`lab wiring: HTTP ${res.status}`);
  return parseWiring(await res.json());
}

// ---- the graph ----

const NODE_FONT = '11px sans-serif';
const LINE_HEIGHT = 14;
const COMPOUND_KINDS = new Set(['host', 'vm']);
const measure = document.createElement('canvas').getContext('2d')!;
measure.font = NODE_FONT;

const cy = cytoscape({
  container: $('graph'),
  minZoom: 0.1,
  maxZoom: 3,
  style: [
    { selector: 'node', style: {
      label: 'data(label)', 'text-wrap': 'wrap', 'text-valign': 'center', 'text-halign': 'center', 'font-size': 11,
      'font-family': 'sans-serif', shape: 'round-rectangle',
      'background-color': '#eef3f8', 'border-width': 2, 'border-color': '#2e7d32', color: '#1c2733' } },
    { selector: 'node[w]', style: { width: 'data(w)', height: 'data(h)' } },
    { selector: 'node[state = "down"]', style: { 'border-color': '#c62828', 'border-style': 'dashed', 'background-color': '#fdecea' } },
    { selector: 'node[state = "idle"]', style: { 'border-color': '#9e9e9e' } },
    { selector: ':parent', style: { 'text-valign': 'top', 'text-halign': 'center', 'text-margin-y': -4, padding: '12px',
      'background-color': '#f7f9fb', 'border-color': '#5c6b7a', 'border-width': 1, 'font-weight': 'bold' } },
    { selector: 'node[kind = "host"]', style: { 'background-color': '#e8eef5' } },
    { selector: 'node[kind = "vm"]', style: { 'background-color': '#f3eefa' } },
    { selector: 'node[kind = "vm"][state = "down"]', style: { 'border-color': '#c62828', 'border-style': 'dashed' } },
    { selector: 'node[kind = "network"]', style: { shape: 'round-tag', 'background-color': '#e3f2fd' } },
    { selector: 'node[kind = "switch"], node[kind = "upstream"]', style: { shape: 'barrel', 'background-color': '#fff8e1' } },
    { selector: 'node[kind = "bond"]', style: { 'background-color': '#e0f2f1' } },
    { selector: 'node[kind = "vlan"]', style: { 'background-color': '#fff3e0' } },
    { selector: 'node[kind = "tunnel"]', style: { 'background-color': '#ede7f6' } },
    { selector: 'edge', style: {
      width: 2, 'line-color': '#607d8b', 'curve-style': 'bezier', label: 'data(label)', 'font-size': 10, 'text-wrap': 'wrap',
      'text-background-color': '#ffffff', 'text-background-opacity': 0.85, 'text-background-padding': '1px',
      'target-arrow-shape': 'none' } },
    { selector: 'edge[state = "down"]', style: { 'line-color': '#c62828', 'line-style': 'dashed' } },
    { selector: 'edge[active = "yes"]', style: { 'line-color': '#2e7d32', width: 5 } },
    { selector: 'edge[kind = "tunnel"]', style: { 'line-color': '#6a1b9a', width: 3, 'curve-style': 'unbundled-bezier' } },
    { selector: 'edge[kind = "tunnel"][state = "down"]', style: { 'line-color': '#c62828' } },
    { selector: ':selected', style: { 'overlay-color': '#1565c0', 'overlay-opacity': 0.15 } },
  ],
});

/** A leaf node's box, from its label measured in the font it is drawn in (a network's tag shape needs more). */
function sizeOf(label: string, kind: string): { w: number; h: number } {
  const rows = label.split('\n');
  const w = Math.max(...rows.map((r) => measure.measureText(r).width));
  return { w: Math.ceil(w) + (kind === 'network' ? 50 : 20), h: rows.length * LINE_HEIGHT + 12 };
}

let model: Topology = { nodes: [], edges: [] };
let structure = '';

/** Puts the model on the graph: changed labels and states in place; new or gone elements relaid out. */
function render(next: Topology): void {
  // An edge or a child whose end is not drawn would make cytoscape throw: leave it out.
  const ids = new Set(next.nodes.map((n) => n.id));
  next = {
    nodes: next.nodes.filter((n) => n.parent === undefined || ids.has(n.parent)),
    edges: next.edges.filter((e) => ids.has(e.source) && ids.has(e.target)),
  };
  model = next;
  const parents = new Set(next.nodes.map((n) => n.parent).filter((p): p is string => p !== undefined));
  const shape = JSON.stringify([next.nodes.map((n) => [n.id, n.parent ?? '', n.label]), next.edges.map((e) => [e.id, e.source, e.target])]);
  cy.batch(() => {
    const keep = new Set([...next.nodes.map((n) => n.id), ...next.edges.map((e) => e.id)]);
    cy.elements().filter((el) => !keep.has(el.id())).remove();
    for (const n of next.nodes) {
      const data = { id: n.id, kind: n.kind, state: n.state, label: n.label, ...(parents.has(n.id) ? {} : sizeOf(n.label, n.kind)) };
      const el = cy.getElementById(n.id);
      if (el.nonempty() && (el.data('parent') ?? '') === (n.parent ?? '')) el.data(data);
      else { el.remove(); cy.add({ group: 'nodes', data: { ...data, ...(n.parent ? { parent: n.parent } : {}) } }); }
    }
    for (const e of next.edges) {
      const el = cy.getElementById(e.id);
      const data = { id: e.id, kind: e.kind, state: e.state, label: e.label, source: e.source, target: e.target, active: e.active === true ? 'yes' : 'no' };
      if (el.nonempty() && el.data('source') === e.source && el.data('target') === e.target) el.data(data);
      else { el.remove(); cy.add({ group: 'edges', data }); }
    }
  });
  showDetails();
  if (shape !== structure) { structure = shape; void relayout(); }
}

const elk = new ELK();
let laying: Promise<void> | undefined;
let layoutAgain = false;
let laidOut = 0;
/** How long the last layout took (ms): shown in the status line, for a pool that grows large. */
let lastLayoutMs = 0;

/** ELK's layered layout of the current model; one at a time, the last request wins. */
async function relayout(): Promise<void> {
  if (laying) { layoutAgain = true; return laying; }
  laying = (async () => {
    do {
      layoutAgain = false;
      await layoutOnce(model);
    } while (layoutAgain);
  })().finally(() => { laying = undefined; });
  return laying;
}

async function layoutOnce(m: Topology): Promise<void> {
  const children = new Map<string, ElkNode[]>();
  const elkNodes = new Map<string, ElkNode>();
  const parents = new Set(m.nodes.map((n) => n.parent).filter((p): p is string => p !== undefined));
  for (const n of m.nodes) {
    const size = sizeOf(n.label, n.kind);
    const box = parents.has(n.id) ? {} : { width: size.w, height: size.h };
    // A compound's label is drawn above it: room for its lines at the top.
    const top = COMPOUND_KINDS.has(n.kind) ? n.label.split('\n').length * LINE_HEIGHT + 16 : 12;
    const en: ElkNode = { id: n.id, ...box, children: [], layoutOptions: { 'elk.padding': `[top=${top},left=14,bottom=14,right=14]` } };
    elkNodes.set(n.id, en);
    const key = n.parent ?? '';
    children.set(key, [...(children.get(key) ?? []), en]);
  }
  for (const [parent, list] of children) if (parent !== '') elkNodes.get(parent)!.children = list;
  const graph: ElkNode = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered', 'elk.direction': 'RIGHT', 'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.layered.spacing.nodeNodeBetweenLayers': '70', 'elk.spacing.nodeNode': '18', 'elk.spacing.componentComponent': '40',
      // Fewer crossing-minimisation sweeps than the default 7: a lab-sized pool looks the same
      // and is laid out in about half the time, so a change reaches the picture sooner.
      'elk.layered.thoroughness': '2',
    },
    children: children.get('') ?? [],
    // Tunnels join hosts side by side: they are drawn, but do not order the layers.
    edges: m.edges.filter((e) => e.kind !== 'tunnel').map((e) => ({ id: e.id, sources: [e.source], targets: [e.target] })),
  };
  const started = performance.now();
  const out = await elk.layout(graph);
  const place = (n: ElkNode, x0: number, y0: number) => {
    const x = x0 + (n.x ?? 0);
    const y = y0 + (n.y ?? 0);
    if (n.children?.length) for (const c of n.children) place(c, x, y);
    else cy.getElementById(n.id).position({ x: x + (n.width ?? 0) / 2, y: y + (n.height ?? 0) / 2 });
  };
  cy.batch(() => { for (const c of out.children ?? []) place(c, 0, 0); });
  cy.fit(undefined, 20);
  laidOut++;
  lastLayoutMs = Math.round(performance.now() - started);
  if (liveText) setStatus(`${liveText}, laid out in ${lastLayoutMs} ms`);
}

// ---- selection ----

let selected: string | undefined;
cy.on('select', (ev) => { selected = ev.target.id(); showDetails(); });
cy.on('unselect', () => { selected = undefined; showDetails(); });

function showDetails(): void {
  const n = model.nodes.find((x) => x.id === selected);
  const e = n ? undefined : model.edges.find((x) => x.id === selected);
  const rows: [string, string][] = n ? [['kind', n.kind], ...n.details] : e ? [['kind', e.kind], ['label', e.label.replace(/\n/g, ' · ')]] : [];
  // Text nodes only: record values never become markup.
  fields.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    return [dt, dd];
  }));
}

// ---- the session and the event loop ----

let session: string | undefined;
let stopLoop: AbortController | undefined;
let updates = 0;

/** The status line's last news from the event loop; the layout adds its time to it. */
let liveText = '';

function setStatus(text: string): void {
  statusLine.textContent = text;
}

/**
 * How long one event.from may wait. A lab's cables change without any record changing (a NIC
 * outside every bridge reports its carrier only at the agent's next full pass), so with a lab the
 * page asks every second, and reads the wiring each time; otherwise it waits for records.
 */
const WAIT_S = { records: 30, lab: 1 };

async function follow(me: string, abort: AbortController): Promise<void> {
  const records: Records = emptyRecords();
  let token = '';
  let failures = 0;
  let lastWiring = '';
  while (!abort.signal.aborted) {
    try {
      const wait = token === '' ? 0 : noWiring ? WAIT_S.records : WAIT_S.lab;
      const got = await rpc('event.from', [me, [...TOPOLOGY_CLASSES], token, wait], abort.signal) as
        { events?: TopologyEvent[]; token?: string };
      if (abort.signal.aborted) return;
      const fresh = token === '';
      if (fresh) for (const c of TOPOLOGY_CLASSES) records[c].clear();
      const changed = applyEvents(records, got.events ?? []) || fresh;
      token = String(got.token ?? token);
      const wiring = await fetchWiring(me).catch((e: Error) => { setStatus(`lab wiring not read: ${e.message}`); return undefined; });
      const wiringText = JSON.stringify(wiring ?? null);
      failures = 0;
      if (!changed && wiringText === lastWiring) continue;
      lastWiring = wiringText;
      render(buildTopology(records, wiring));
      updates++;
      liveText = `live: ${model.nodes.length} objects, updated ${new Date().toLocaleTimeString()}`;
      setStatus(liveText);
    } catch (e) {
      if (abort.signal.aborted) return;
      const desc = e instanceof ApiFailure ? e.description : [];
      if (desc[0] === 'SESSION_INVALID') { logout('the session ended: log in again'); return; }
      if (desc[0] === 'EVENTS_LOST') { token = ''; continue; }
      failures++;
      setStatus(`cannot reach the master (${(e as Error).message}); retrying`);
      // 0.5 s doubling up to 5 s, as the agents retry.
      await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** Math.min(failures - 1, 4))));
    }
  }
}

function logout(why: string): void {
  stopLoop?.abort();
  const old = session;
  session = undefined;
  if (old) void rpc('session.logout', [old]).catch(() => undefined);
  cy.elements().remove();
  structure = '';
  liveText = '';
  view.hidden = true;
  loginForm.hidden = false;
  $('logout').hidden = true;
  setStatus(why);
}

loginForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const user = $<HTMLInputElement>('user').value;
  const password = $<HTMLInputElement>('password');
  $('login-error').textContent = '';
  void (async () => {
    try {
      session = String(await rpc('session.login_with_password', [user, password.value, '1.0', 'xcpnet-topology']));
    } catch (e) {
      $('login-error').textContent = e instanceof ApiFailure ? e.description.join(' ') : `cannot reach the master: ${(e as Error).message}`;
      return;
    }
    password.value = '';
    loginForm.hidden = true;
    view.hidden = false;
    $('logout').hidden = false;
    cy.resize();
    setStatus('loading');
    stopLoop = new AbortController();
    void follow(session, stopLoop);
  })();
});
$('logout').addEventListener('click', () => logout('logged out'));

// What the page shows, for tests and for a curious person at the console: the drawn elements
// with their labels, and whether each lies inside the visible part of the graph.
declare global { interface Window { xcpnetTopology: unknown } }
window.xcpnetTopology = {
  updates: () => updates,
  layouts: () => laidOut,
  layoutMs: () => lastLayoutMs,
  settled: () => laying === undefined,
  /** Pixels per graph unit: labels are drawn at 11 × zoom pixels. */
  zoom: () => cy.zoom(),
  elements: () => {
    const box = $('graph').getBoundingClientRect();
    return cy.elements().map((el) => {
      const r = el.renderedBoundingBox({});
      return {
        id: el.id(), group: el.group(), kind: el.data('kind'), state: el.data('state'), label: el.data('label'),
        ...(el.isEdge() ? { width: Number.parseFloat(el.style('width')) } : {}),
        visible: el.visible() && r.w > 0 && r.x1 >= 0 && r.y1 >= 0 && r.x2 <= box.width + 1 && r.y2 <= box.height + 1,
      };
    });
  },
};

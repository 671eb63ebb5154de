// berth-hub web UI: a single-page app over the hub's JSON API (hub_api.h,
// webhooks.h, builds.h), with hash routes:
//   #/ and #/search?q=     browse / search repositories
//   #/login, #/signup      sign in / sign up (sign out is a header button)
//   #/r/<repo>             repository overview (README), /-/tags, /-/tags/<tag>
//   #/r/<repo>/-/settings  visibility, description, collaborators, webhooks, builds
//   #/r/<repo>/-/builds/<id>, #/r/<repo>/-/webhooks/<id>   build log, deliveries
// "-" separates the repository from the page because repository names hold
// slashes and no name component can be "-".
// Safety rule: API data only ever reaches the page as text nodes or vetted
// attribute values (el() below); this file never assigns innerHTML. The
// session is the HttpOnly berth_session cookie, sent by same-origin fetch.
'use strict';

// ---- DOM and formatting helpers -----------------------------------------

// el('a', {href, class, onclick}, child...) — children are nodes or strings
// (strings become text nodes, so markup in them stays text).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (['value', 'checked', 'disabled', 'selected', 'hidden'].includes(k)) e[k] = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  append(e, children);
  return e;
}

function append(parent, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return parent;
}

function humanSize(bytes) {
  // Decimal units, as the docker CLI prints them.
  if (typeof bytes !== 'number' || !isFinite(bytes)) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (bytes >= 1000 && i < units.length - 1) { bytes /= 1000; i++; }
  return (i === 0 ? String(bytes) : bytes.toFixed(bytes < 10 ? 2 : 1)) + ' ' + units[i];
}

function relTime(unix) {
  if (!unix) return '—';
  const s = Math.round(Date.now() / 1000 - unix);
  const a = Math.abs(s);
  const steps = [[60, 'second', 1], [3600, 'minute', 60], [86400, 'hour', 3600], [2592000, 'day', 86400],
                 [31536000, 'month', 2592000], [Infinity, 'year', 31536000]];
  if (a < 10) return 'just now';
  for (const [limit, unit, div] of steps) {
    if (a < limit) {
      const n = Math.floor(a / div);
      const t = `${n} ${unit}${n === 1 ? '' : 's'}`;
      return s >= 0 ? `${t} ago` : `in ${t}`;
    }
  }
  return '';
}

function timeEl(unix) {
  return el('time', {datetime: unix ? new Date(unix * 1000).toISOString() : null,
                     title: unix ? new Date(unix * 1000).toLocaleString() : null}, relTime(unix));
}

function shortDigest(d) {
  const m = /^([a-z0-9]+):([0-9a-f]+)$/.exec(d || '');
  return m ? `${m[1]}:${m[2].slice(0, 12)}` : (d || '');
}

function repoPath(repo) { return repo.split('/').map(encodeURIComponent).join('/'); }
function repoApi(repo, sub) { return `/api/v1/repositories/${repoPath(repo)}/-${sub ? '/' + sub : ''}`; }
function repoHash(repo, page) { return `#/r/${repoPath(repo)}${page ? '/-/' + page : ''}`; }
function registryHost() { return location.host; }

let toastTimer = null;
function toast(msg, isError) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.className = 'toast' + (isError ? ' error' : '');
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 3500);
}

// Clipboard: the async API where the page may use it (secure contexts, a
// focused document), else a hidden textarea and execCommand('copy').
async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (e) { /* permission or focus refused: fall back */ }
  const ta = el('textarea', {class: 'copyable-hidden', readonly: true});
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
  ta.remove();
  return ok;
}

function copyButton(text, label) {
  label = label || 'Copy';
  const b = el('button', {type: 'button', class: 'secondary small copy', title: 'Copy to clipboard',
                          'data-copy': text}, label);
  b.addEventListener('click', async () => {
    const ok = await copyText(text);
    b.textContent = ok ? 'Copied!' : 'Copy failed';
    setTimeout(() => { b.textContent = label; }, 1500);
  });
  return b;
}

function pullBox(cmd) {
  return el('div', {class: 'pull'}, el('code', {class: 'pull-command'}, cmd), copyButton(cmd));
}

function badge(text, cls) { return el('span', {class: 'badge ' + (cls || '')}, text); }

// ---- markdown (a small, safe subset) ----------------------------------------

// Headings, paragraphs, fenced code blocks, lists, inline code, **bold** and
// links whose target is http(s). Built as DOM nodes: the source's HTML is
// text, and a link with any other scheme (javascript:, data:) stays text.
function renderMarkdown(src) {
  const root = el('div', {class: 'readme'});
  const lines = String(src || '').replace(/\r\n?/g, '\n').split('\n');
  let para = [];
  let list = null;
  const flushPara = () => {
    if (para.length) root.append(el('p', null, inline(para.join(' '))));
    para = [];
  };
  const flushList = () => { if (list) root.append(list); list = null; };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = /^\s*(```|~~~)/.exec(line);
    if (fence) {
      flushPara(); flushList();
      const code = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence[1]); i++) code.push(lines[i]);
      root.append(el('pre', null, el('code', null, code.join('\n'))));
      continue;
    }
    const h = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      flushPara(); flushList();
      // One level down: the page's own title is the h1.
      root.append(el('h' + Math.min(h[1].length + 1, 6), null, inline(h[2])));
      continue;
    }
    const li = /^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/.exec(line);
    if (li) {
      flushPara();
      const tag = li[1] ? 'ul' : 'ol';
      if (!list || list.tagName.toLowerCase() !== tag) { flushList(); list = el(tag); }
      list.append(el('li', null, inline(li[3])));
      continue;
    }
    if (!line.trim()) { flushPara(); flushList(); continue; }
    flushList();
    para.push(line.trim());
  }
  flushPara(); flushList();
  return root;
}

function inline(text) {
  const out = [];
  const re = /`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)|\*\*([^*]+)\*\*|(https?:\/\/[^\s<>()]+)/g;
  let last = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(el('code', null, m[1]));
    else if (m[2] !== undefined) out.push(safeLink(m[3], m[2], m[0]));
    else if (m[4] !== undefined) out.push(el('strong', null, m[4]));
    else out.push(safeLink(m[5], m[5], m[5]));
    last = re.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function safeLink(url, text, raw) {
  if (!/^https?:\/\/[^\s]+$/i.test(url)) return raw;  // not a scheme we allow: shown as typed
  return el('a', {href: url, rel: 'noopener noreferrer nofollow', target: '_blank'}, text);
}

// ---- API ------------------------------------------------------------------

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const opts = {method, credentials: 'same-origin', headers: {Accept: 'application/json'}};
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const text = await r.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!r.ok) throw new ApiError((data && data.message) || `${r.status} ${r.statusText || 'error'}`, r.status);
  return data;
}

// An optional API (webhooks, builds) answers 404/405 on a hub without it.
function unavailable(e) { return e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 501); }

// ---- session ---------------------------------------------------------------

let me = null;  // the signed-in user (GET /api/v1/user) or null

async function loadMe() {
  try {
    me = await api('GET', '/api/v1/user');
  } catch (e) {
    me = null;
    // A stale session cookie would make every call fail: drop it.
    if (e.status === 401) await api('POST', '/api/v1/logout').catch(() => {});
  }
  renderNav();
}

function renderNav() {
  const nav = document.getElementById('nav-user');
  nav.replaceChildren();
  if (me) {
    append(nav, [
      el('span', {class: 'signed-in-as'}, 'Signed in as ', el('strong', {id: 'nav-username'}, me.username)),
      el('button', {type: 'button', id: 'sign-out', class: 'small', onclick: signOut}, 'Sign out'),
    ]);
  } else {
    append(nav, [el('a', {href: '#/login', id: 'nav-sign-in'}, 'Sign in'), el('a', {href: '#/signup', id: 'nav-sign-up'}, 'Sign up')]);
  }
}

async function signOut() {
  await api('POST', '/api/v1/logout').catch(() => {});
  me = null;
  renderNav();
  toast('Signed out');
  if (location.hash === '#/' || location.hash === '') route(); else location.hash = '#/';
}

// ---- router ------------------------------------------------------------------

let routeSeq = 0;  // a newer navigation wins over a slower older one

function parseHash() {
  let h = location.hash.replace(/^#/, '') || '/';
  let query = new URLSearchParams();
  const qi = h.indexOf('?');
  if (qi >= 0) { query = new URLSearchParams(h.slice(qi + 1)); h = h.slice(0, qi); }
  let parts;
  try { parts = h.split('/').filter(Boolean).map(decodeURIComponent); } catch (e) { parts = []; }
  return {parts, query};
}

async function route() {
  const seq = ++routeSeq;
  const {parts, query} = parseHash();
  const main = document.getElementById('main');
  const stillCurrent = () => seq === routeSeq;
  let view;
  try {
    if (parts.length === 0 || parts[0] === 'search') view = await homePage(query.get('q') || '');
    else if (parts[0] === 'login') view = loginPage(query.get('next'));
    else if (parts[0] === 'signup') view = signupPage();
    else if (parts[0] === 'r' && parts.length > 1) {
      const dash = parts.indexOf('-');
      const repo = parts.slice(1, dash < 0 ? undefined : dash).join('/');
      const page = dash < 0 ? [] : parts.slice(dash + 1);
      view = await repoPage(repo, page, stillCurrent);
    } else view = el('div', {class: 'card'}, 'No such page. ', el('a', {href: '#/'}, 'Back to repositories'));
  } catch (e) {
    view = errorView(e);
  }
  if (!stillCurrent()) return;
  main.replaceChildren(view);
  // Which route is on screen, once it is complete (tests and tools wait on it).
  document.body.dataset.route = location.hash || '#/';
  const input = document.getElementById('search-input');
  if (parts[0] === 'search' || parts.length === 0) input.value = query.get('q') || '';
  document.title = (parts[0] === 'r' ? parts.slice(1, parts.indexOf('-') < 0 ? undefined : parts.indexOf('-')).join('/') + ' · ' : '') + 'Berth Hub';
}

function errorView(e) {
  const card = el('div', {class: 'card error', id: 'error'}, e.message || String(e));
  if (e.status === 401 && !me) append(card, [' — ', el('a', {href: '#/login'}, 'sign in')]);
  return card;
}

// ---- pages: browse and search ----------------------------------------------

async function homePage(q) {
  const data = await api('GET', '/api/v1/repositories' + (q ? '?q=' + encodeURIComponent(q) : ''));
  const results = (data && data.results) || [];
  const view = el('div', null, el('h1', null, q ? `Repositories matching “${q}”` : 'Repositories'));
  if (!me) append(view, [el('p', {class: 'muted'}, 'Showing public repositories. ', el('a', {href: '#/login'}, 'Sign in'), ' to see yours.')]);
  if (!results.length) {
    view.append(el('p', {class: 'muted', id: 'no-results'}, q ? 'No repositories found.' : 'No repositories yet.'));
    return view;
  }
  const list = el('ul', {class: 'repo-list', id: 'repo-list'});
  for (const r of results) {
    list.append(el('li', {'data-repo': r.repo_name},
      el('a', {class: 'repo-name', href: repoHash(r.repo_name)}, r.repo_name),
      r.is_private ? badge('private', 'private') : null,
      r.description ? el('div', {class: 'repo-description'}, r.description) : null,
      el('div', {class: 'repo-meta'},
        el('span', null, `★ ${r.star_count || 0}`),
        el('span', null, `${r.tag_count || 0} tag${r.tag_count === 1 ? '' : 's'}`),
        el('span', null, 'updated ', timeEl(r.last_updated)))));
  }
  view.append(list);
  return view;
}

// ---- pages: sign in, sign up -------------------------------------------------

function formError() { return el('p', {class: 'error form-error', role: 'alert', hidden: true}); }
function showFormError(p, e) { p.textContent = e.message || String(e); p.hidden = false; }

function loginPage(next) {
  const err = formError();
  const user = el('input', {type: 'text', id: 'login-username', autocomplete: 'username', required: true});
  const pass = el('input', {type: 'password', id: 'login-password', autocomplete: 'current-password', required: true});
  const form = el('form', {class: 'card form-narrow', id: 'login-form'},
    el('h1', null, 'Sign in'),
    el('label', {for: 'login-username'}, 'Username'), user,
    el('label', {for: 'login-password'}, 'Password'), pass,
    err,
    el('div', {class: 'row'}, el('button', {type: 'submit'}, 'Sign in'),
       el('span', {class: 'muted'}, 'No account? ', el('a', {href: '#/signup'}, 'Sign up'))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', '/api/v1/login', {username: user.value, password: pass.value});
      await loadMe();
      toast(`Signed in as ${me ? me.username : user.value}`);
      // Only a hash route: never an arbitrary URL from the address bar.
      location.hash = next && next.startsWith('#/') ? next : '#/';
    } catch (e) {
      showFormError(err, e);
    }
  });
  return form;
}

function signupPage() {
  const err = formError();
  const user = el('input', {type: 'text', id: 'signup-username', autocomplete: 'username', required: true});
  const email = el('input', {type: 'email', id: 'signup-email', autocomplete: 'email'});
  const pass = el('input', {type: 'password', id: 'signup-password', autocomplete: 'new-password', required: true});
  const form = el('form', {class: 'card form-narrow', id: 'signup-form'},
    el('h1', null, 'Sign up'),
    el('label', {for: 'signup-username'}, 'Username'), user,
    el('label', {for: 'signup-email'}, 'Email'), email,
    el('label', {for: 'signup-password'}, 'Password'), pass,
    err,
    el('div', {class: 'row'}, el('button', {type: 'submit'}, 'Create account')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', '/api/v1/users', {username: user.value, password: pass.value, email: email.value});
      await api('POST', '/api/v1/login', {username: user.value, password: pass.value});
      await loadMe();
      toast(`Welcome, ${user.value}`);
      location.hash = '#/';
    } catch (e) {
      showFormError(err, e);
    }
  });
  return form;
}

// ---- pages: repository -------------------------------------------------------

async function repoPage(repo, page, stillCurrent) {
  const r = await api('GET', repoApi(repo));
  const isAdmin = r.permission === 'admin';
  const tab = page[0] || 'overview';
  const view = el('div', {class: 'repo', 'data-repo': r.repo_name});
  view.append(el('div', {class: 'header-row'},
    el('h1', {id: 'repo-title'}, r.repo_name),
    r.is_private ? badge('private', 'private') : badge('public'),
    el('span', {class: 'spacer'}),
    el('span', {class: 'muted'}, `★ ${r.star_count || 0}`),
    me ? starButton(r) : null));
  view.append(el('p', {class: 'repo-description', id: 'repo-description'}, r.description || el('span', {class: 'muted'}, 'No description.')));
  view.append(pullBox(`docker pull ${registryHost()}/${r.repo_name}`));
  const tabs = [['overview', 'Overview', ''], ['tags', 'Tags', 'tags'], ['builds', 'Builds', 'builds']];
  if (isAdmin) tabs.push(['settings', 'Settings', 'settings']);
  view.append(el('nav', {class: 'tabs'}, tabs.map(([key, label, p]) =>
    el('a', {href: repoHash(repo, p), class: key === tab ? 'active' : null, id: `tab-${key}`}, label))));

  let body;
  if (tab === 'overview') {
    body = el('div', {class: 'card', id: 'readme'},
      r.full_description ? renderMarkdown(r.full_description) : el('p', {class: 'muted'}, 'No README yet.'));
  } else if (tab === 'tags' && page.length === 1) {
    body = await tagsView(r);
  } else if (tab === 'tags') {
    body = await tagView(r, page.slice(1).join('/'));
  } else if (tab === 'builds' && page.length === 1) {
    body = await buildsView(r, false);
  } else if (tab === 'builds') {
    body = await buildView(r, page[1], stillCurrent);
  } else if (tab === 'webhooks' && page.length > 1) {
    body = await deliveriesView(r, page[1]);
  } else if (tab === 'settings') {
    body = isAdmin ? await settingsView(r) : el('div', {class: 'card error'}, 'You need admin permission on this repository.');
  } else {
    body = el('div', {class: 'card'}, 'No such page.');
  }
  view.append(body);
  return view;
}

function starButton(r) {
  // The API has no "starred by me" field: star or unstar explicitly.
  return el('span', null,
    el('button', {type: 'button', class: 'secondary small', onclick: async () => {
      try { await api('PUT', repoApi(r.repo_name, 'star')); toast('Starred'); route(); } catch (e) { toast(e.message, true); }
    }}, 'Star'), ' ',
    el('button', {type: 'button', class: 'secondary small', onclick: async () => {
      try { await api('DELETE', repoApi(r.repo_name, 'star')); toast('Unstarred'); route(); } catch (e) { toast(e.message, true); }
    }}, 'Unstar'));
}

function digestEl(d) {
  // Short form shown; the full digest is in the title and copied on click.
  const s = el('span', {class: 'digest mono', title: d, 'data-digest': d}, shortDigest(d));
  s.addEventListener('click', async () => {
    toast(await copyText(d) ? `Copied ${d}` : 'Copy failed', false);
  });
  return s;
}

function platforms(t) {
  const p = (t.images || []).map((i) => i.platform).filter(Boolean);
  return p.length ? p.join(', ') : '—';
}

async function tagsView(r) {
  const tags = await api('GET', repoApi(r.repo_name, 'tags'));
  if (!tags.length) return el('div', {class: 'card muted', id: 'tags'}, 'No tags yet. Push one with ', el('code', null, `docker push ${registryHost()}/${r.repo_name}:<tag>`));
  tags.sort((a, b) => (b.pushed || 0) - (a.pushed || 0));
  const rows = tags.map((t) => {
    const cmd = `docker pull ${registryHost()}/${r.repo_name}:${t.name}`;
    return el('tr', {'data-tag': t.name},
      el('td', {class: 'tag-name'}, el('a', {href: repoHash(r.repo_name, 'tags/' + encodeURIComponent(t.name))}, t.name)),
      el('td', {class: 'tag-digest'}, digestEl(t.digest)),
      el('td', {class: 'tag-platform'}, platforms(t)),
      el('td', {class: 'tag-size', title: `${t.size} bytes`}, humanSize(t.size)),
      el('td', {class: 'tag-pushed'}, timeEl(t.pushed)),
      el('td', {class: 'tag-pull'}, pullBox(cmd)));
  });
  return el('div', {class: 'card', id: 'tags'},
    el('table', {id: 'tags-table'},
      el('thead', null, el('tr', null, ['Tag', 'Digest', 'Platform', 'Size', 'Pushed', 'Pull'].map((h) => el('th', null, h)))),
      el('tbody', null, rows)));
}

async function tagView(r, tagName) {
  const tags = await api('GET', repoApi(r.repo_name, 'tags'));
  const t = tags.find((x) => x.name === tagName);
  if (!t) return el('div', {class: 'card error'}, `No tag ${tagName} in ${r.repo_name}.`);
  const view = el('div', {class: 'card', id: 'tag-detail'},
    el('h2', null, `${r.repo_name}:${t.name}`),
    el('p', null, 'Digest: ', el('code', {id: 'tag-full-digest'}, t.digest), ' ', copyButton(t.digest, 'Copy digest')),
    el('p', {class: 'muted'}, `${humanSize(t.size)} · pushed `, timeEl(t.pushed), ` · ${t.media_type}`),
    pullBox(`docker pull ${registryHost()}/${r.repo_name}:${t.name}`),
    pullBox(`docker pull ${registryHost()}/${r.repo_name}@${t.digest}`));
  const images = (t.images && t.images.length) ? t.images : [{digest: t.digest, platform: '', size: t.size}];
  for (const img of images) {
    const section = el('section', {class: 'image', 'data-digest': img.digest},
      el('h3', null, img.platform || 'image', ' ', el('span', {class: 'muted'}, shortDigest(img.digest), ' · ', humanSize(img.size))));
    try {
      // Not percent-encoded: the API matches the raw path, and digests need no escaping.
      const m = await api('GET', repoApi(r.repo_name, 'manifests/' + img.digest));
      const layers = m.layers || [];
      section.append(layers.length ? el('table', {class: 'layers'},
        el('thead', null, el('tr', null, ['#', 'Instruction', 'Size', 'Digest'].map((h) => el('th', null, h)))),
        el('tbody', null, layers.map((l, i) => el('tr', {class: 'layer'},
          el('td', null, String(i + 1)),
          el('td', {class: 'layer-instruction mono'}, l.instruction || el('span', {class: 'muted'}, '—')),
          el('td', {class: 'layer-size', title: `${l.size} bytes`}, humanSize(l.size)),
          el('td', null, digestEl(l.digest))))))
        : el('p', {class: 'muted'}, 'No layers.'));
    } catch (e) {
      section.append(el('p', {class: 'error'}, e.message));
    }
    view.append(section);
  }
  return view;
}

// ---- pages: settings (admins) ---------------------------------------------------

async function settingsView(r) {
  const view = el('div', {id: 'settings'});
  view.append(visibilitySection(r), descriptionSection(r));
  // Each section loads on its own, so a hub without webhooks or builds still
  // shows the rest.
  const sections = await Promise.all([collaboratorsSection(r), webhooksSection(r), buildSettingsSection(r)]);
  view.append(...sections);
  return view;
}

function section(id, title, ...children) {
  return el('section', {class: 'card', id}, el('h2', null, title), children);
}

function visibilitySection(r) {
  const pub = el('input', {type: 'radio', name: 'visibility', value: 'public', id: 'visibility-public', checked: !r.is_private});
  const priv = el('input', {type: 'radio', name: 'visibility', value: 'private', id: 'visibility-private', checked: !!r.is_private});
  const save = el('button', {type: 'button', id: 'save-visibility'}, 'Save visibility');
  save.addEventListener('click', async () => {
    try {
      const updated = await api('PATCH', repoApi(r.repo_name), {is_private: priv.checked});
      r.is_private = updated.is_private;
      toast(`${r.repo_name} is now ${updated.is_private ? 'private' : 'public'}`);
    } catch (e) { toast(e.message, true); }
  });
  return section('visibility', 'Visibility',
    el('label', {class: 'inline'}, pub, 'Public: anyone can pull and find it'),
    el('label', {class: 'inline'}, priv, 'Private: only collaborators'),
    el('div', {class: 'row'}, save));
}

function descriptionSection(r) {
  const desc = el('input', {type: 'text', id: 'edit-description', class: 'wide', maxlength: 100, value: r.description || ''});
  const full = el('textarea', {id: 'edit-full-description'});
  full.value = r.full_description || '';
  const save = el('button', {type: 'button', id: 'save-description'}, 'Save description');
  save.addEventListener('click', async () => {
    try {
      await api('PATCH', repoApi(r.repo_name), {description: desc.value, full_description: full.value});
      toast('Description saved');
    } catch (e) { toast(e.message, true); }
  });
  return section('description', 'Description',
    el('label', {for: 'edit-description'}, 'Short description'), desc,
    el('label', {for: 'edit-full-description'}, 'README (Markdown: headings, paragraphs, lists, code, http(s) links)'), full,
    el('div', {class: 'row'}, save));
}

function permissionSelect(id, current) {
  return el('select', {id}, ['read', 'write', 'admin'].map((p) => el('option', {value: p, selected: p === (current || 'read')}, p)));
}

async function collaboratorsSection(r) {
  const sec = section('collaborators', 'Collaborators');
  const ns = r.namespace;
  let teams = null;  // the organization's teams, when the namespace is one we can see
  try { teams = await api('GET', `/api/v1/orgs/${encodeURIComponent(ns)}/teams`); } catch (e) { teams = null; }
  const body = el('div');
  sec.append(body);
  const refresh = async () => {
    let g;
    try { g = await api('GET', repoApi(r.repo_name, 'collaborators')); } catch (e) { body.replaceChildren(errorView(e)); return; }
    const rows = [];
    for (const [kind, list] of [['user', g.collaborators || []], ['team', g.teams || []]]) {
      for (const c of list) {
        const sel = permissionSelect(null, c.permission);
        const path = (kind === 'team' ? 'teams/' : 'collaborators/') + encodeURIComponent(c.name);
        sel.addEventListener('change', async () => {
          try { await api('PUT', repoApi(r.repo_name, path), {permission: sel.value}); toast(`${c.name}: ${sel.value}`); } catch (e) { toast(e.message, true); }
        });
        rows.push(el('tr', {'data-collaborator': c.name, 'data-kind': kind},
          el('td', {class: 'collaborator-name'}, c.name, kind === 'team' ? badge('team') : null),
          el('td', {class: 'collaborator-permission', 'data-permission': c.permission}, sel),
          el('td', null, el('button', {type: 'button', class: 'danger small', onclick: async () => {
            try { await api('DELETE', repoApi(r.repo_name, path)); toast(`Removed ${c.name}`); refresh(); } catch (e) { toast(e.message, true); }
          }}, 'Remove'))));
      }
    }
    body.replaceChildren(rows.length
      ? el('table', {id: 'collaborators-table'}, el('thead', null, el('tr', null, el('th', null, 'Name'), el('th', null, 'Permission'), el('th'))), el('tbody', null, rows))
      : el('p', {class: 'muted', id: 'no-collaborators'}, 'No collaborators yet.'));
  };
  await refresh();

  const user = el('input', {type: 'text', id: 'collaborator-name', placeholder: 'username'});
  const perm = permissionSelect('collaborator-permission', 'write');
  const add = el('button', {type: 'button', id: 'add-collaborator'}, 'Add collaborator');
  add.addEventListener('click', async () => {
    const name = user.value.trim();
    if (!name) return;
    try {
      await api('PUT', repoApi(r.repo_name, 'collaborators/' + encodeURIComponent(name)), {permission: perm.value});
      user.value = '';
      toast(`Added ${name}`);
      refresh();
    } catch (e) { toast(e.message, true); }
  });
  sec.append(el('div', {class: 'row'}, user, perm, add));
  if (teams && teams.length) {
    const team = el('select', {id: 'team-name'}, teams.map((t) => el('option', {value: t.name}, t.name)));
    const tperm = permissionSelect('team-permission', 'read');
    const tadd = el('button', {type: 'button', id: 'add-team'}, 'Add team');
    tadd.addEventListener('click', async () => {
      try {
        await api('PUT', repoApi(r.repo_name, 'teams/' + encodeURIComponent(team.value)), {permission: tperm.value});
        toast(`Added team ${team.value}`);
        refresh();
      } catch (e) { toast(e.message, true); }
    });
    sec.append(el('div', {class: 'row'}, el('span', null, `Team of ${ns}:`), team, tperm, tadd));
  }
  return sec;
}

async function webhooksSection(r) {
  const sec = section('webhooks', 'Webhooks');
  const body = el('div');
  sec.append(el('p', {class: 'muted'}, 'Each push POSTs a JSON payload to these URLs.'), body);
  let available = true;
  const refresh = async () => {
    let hooks;
    try {
      hooks = await api('GET', repoApi(r.repo_name, 'webhooks'));
    } catch (e) {
      if (unavailable(e)) { available = false; body.replaceChildren(el('p', {class: 'muted', id: 'webhooks-unavailable'}, 'Webhooks are not available on this hub.')); return; }
      body.replaceChildren(errorView(e));
      return;
    }
    body.replaceChildren(hooks.length ? el('table', {id: 'webhooks-table'},
      el('thead', null, el('tr', null, ['Name', 'URL', 'Created', '', ''].map((h) => el('th', null, h)))),
      el('tbody', null, hooks.map((h) => el('tr', {'data-webhook': h.id},
        el('td', {class: 'webhook-name'}, h.name || '—'),
        el('td', {class: 'webhook-url mono'}, h.url),
        el('td', null, timeEl(h.created)),
        el('td', null, el('a', {href: repoHash(r.repo_name, 'webhooks/' + encodeURIComponent(h.id))}, 'Deliveries')),
        el('td', null, el('button', {type: 'button', class: 'danger small', onclick: async () => {
          try { await api('DELETE', repoApi(r.repo_name, 'webhooks/' + encodeURIComponent(h.id))); toast('Webhook deleted'); refresh(); } catch (e) { toast(e.message, true); }
        }}, 'Delete'))))))
      : el('p', {class: 'muted', id: 'no-webhooks'}, 'No webhooks yet.'));
  };
  await refresh();
  if (!available) return sec;
  const name = el('input', {type: 'text', id: 'webhook-name', placeholder: 'name'});
  const url = el('input', {type: 'url', id: 'webhook-url', placeholder: 'https://example.com/hook'});
  const add = el('button', {type: 'button', id: 'add-webhook'}, 'Add webhook');
  add.addEventListener('click', async () => {
    try {
      await api('POST', repoApi(r.repo_name, 'webhooks'), {name: name.value.trim(), url: url.value.trim()});
      name.value = ''; url.value = '';
      toast('Webhook added');
      refresh();
    } catch (e) { toast(e.message, true); }
  });
  sec.append(el('div', {class: 'row'}, name, url, add));
  return sec;
}

async function deliveriesView(r, id) {
  const list = await api('GET', repoApi(r.repo_name, `webhooks/${encodeURIComponent(id)}/deliveries`));
  const view = el('div', {class: 'card', id: 'deliveries'},
    el('p', null, el('a', {href: repoHash(r.repo_name, 'settings')}, '← Settings')),
    el('h2', null, 'Webhook deliveries'));
  if (!list.length) { view.append(el('p', {class: 'muted', id: 'no-deliveries'}, 'No deliveries yet: they happen on push.')); return view; }
  view.append(el('table', {id: 'deliveries-table'},
    el('thead', null, el('tr', null, ['When', 'State', 'Attempts', 'HTTP status', 'Error', 'Receiver said', 'Payload'].map((h) => el('th', null, h)))),
    el('tbody', null, list.map((d) => el('tr', {'data-delivery': d.id},
      el('td', null, timeEl(d.created)),
      el('td', null, badge(d.state, d.state)),
      el('td', null, String(d.attempts)),
      el('td', null, d.status_code ? String(d.status_code) : '—'),
      el('td', {class: 'error'}, d.error || ''),
      el('td', null, d.callback_state ? `${d.callback_state}${d.callback_description ? ': ' + d.callback_description : ''}` : ''),
      el('td', null, el('details', null, el('summary', null, 'JSON'), el('pre', null, JSON.stringify(d.payload, null, 2)))))))));
  return view;
}

// ---- automated builds -------------------------------------------------------------

function ruleRow(rule) {
  rule = rule || {source_type: 'branch', source_name: 'main', dockerfile: 'Dockerfile', context: '/', tag: 'latest'};
  const type = el('select', {class: 'rule-source-type'}, ['branch', 'tag'].map((t) => el('option', {value: t, selected: t === rule.source_type}, t)));
  const tr = el('tr', {class: 'rule'},
    el('td', null, type),
    el('td', null, el('input', {type: 'text', class: 'rule-source-name', value: rule.source_name, title: 'Exact name, or /regex/'})),
    el('td', null, el('input', {type: 'text', class: 'rule-dockerfile', value: rule.dockerfile})),
    el('td', null, el('input', {type: 'text', class: 'rule-context', value: rule.context})),
    el('td', null, el('input', {type: 'text', class: 'rule-tag', value: rule.tag, title: '{sourceref}, {\\1}..{\\9}'})),
    el('td', null, el('button', {type: 'button', class: 'danger small', onclick: () => tr.remove()}, 'Remove')));
  return tr;
}

function readRules(tbody) {
  return [...tbody.querySelectorAll('tr.rule')].map((tr) => ({
    source_type: tr.querySelector('.rule-source-type').value,
    source_name: tr.querySelector('.rule-source-name').value.trim(),
    dockerfile: tr.querySelector('.rule-dockerfile').value.trim(),
    context: tr.querySelector('.rule-context').value.trim(),
    tag: tr.querySelector('.rule-tag').value.trim(),
  }));
}

async function buildSettingsSection(r) {
  const sec = section('builds', 'Automated builds');
  let cfg;
  try {
    cfg = await api('GET', repoApi(r.repo_name, 'build-rules'));
  } catch (e) {
    sec.append(unavailable(e) ? el('p', {class: 'muted', id: 'builds-unavailable'}, 'Automated builds are not available on this hub.') : errorView(e));
    return sec;
  }
  const source = el('input', {type: 'text', id: 'build-source', class: 'wide', placeholder: 'https://git.example.com/app.git', value: cfg.source || ''});
  const tbody = el('tbody', {id: 'build-rules'}, (cfg.rules || []).map(ruleRow));
  if (!(cfg.rules || []).length) tbody.append(ruleRow());
  const trigger = el('div', {id: 'build-trigger'});
  const showTrigger = (url) => trigger.replaceChildren(url ? el('div', null, el('label', null, 'Trigger URL (POST to build; keep it secret)'), pullBox(url)) : '');
  showTrigger(cfg.trigger_url);
  const save = el('button', {type: 'button', id: 'save-build-rules'}, 'Save build settings');
  save.addEventListener('click', async () => {
    try {
      const out = await api('PUT', repoApi(r.repo_name, 'build-rules'), {source: source.value.trim(), rules: readRules(tbody)});
      showTrigger(out.trigger_url);
      toast('Build settings saved');
    } catch (e) { toast(e.message, true); }
  });
  const buildsBox = el('div', {id: 'builds-box'});
  const buildNow = el('button', {type: 'button', id: 'build-now', class: 'secondary'}, 'Build now');
  buildNow.addEventListener('click', async () => {
    try {
      const out = await api('POST', repoApi(r.repo_name, 'builds'));
      const n = (out && out.builds || []).length;
      toast(n ? `${n} build${n === 1 ? '' : 's'} queued` : 'No branch or tag matches the rules');
      buildsBox.replaceChildren(await buildsView(r, true));
    } catch (e) { toast(e.message, true); }
  });
  sec.append(
    el('label', {for: 'build-source'}, 'Git repository'), source,
    el('label', null, 'Build rules'),
    el('table', {class: 'rules'},
      el('thead', null, el('tr', null, ['Source', 'Name or /regex/', 'Dockerfile', 'Context', 'Tag template', ''].map((h) => el('th', null, h)))),
      tbody),
    el('div', {class: 'row'},
      el('button', {type: 'button', class: 'secondary', id: 'add-rule', onclick: () => tbody.append(ruleRow())}, 'Add rule'),
      save, buildNow),
    trigger, buildsBox);
  buildsBox.append(await buildsView(r, true));
  return sec;
}

async function buildsView(r, compact) {
  let builds;
  try {
    builds = await api('GET', repoApi(r.repo_name, 'builds'));
  } catch (e) {
    if (unavailable(e)) return el('div', {class: compact ? '' : 'card', id: 'builds-list'}, el('p', {class: 'muted'}, 'Automated builds are not available on this hub.'));
    throw e;
  }
  const box = el('div', {class: compact ? '' : 'card', id: 'builds-list'}, compact ? el('h3', null, 'Recent builds') : null);
  if (!builds.length) { box.append(el('p', {class: 'muted', id: 'no-builds'}, 'No builds yet.')); return box; }
  box.append(el('table', {id: 'builds-table'},
    el('thead', null, el('tr', null, ['Status', 'Source', 'Tag', 'Commit', 'Queued', '', ''].map((h) => el('th', null, h)))),
    el('tbody', null, builds.map((b) => el('tr', {'data-build': b.id},
      el('td', null, badge(b.status, b.status)),
      el('td', null, `${b.source_type} ${b.ref}`),
      el('td', null, b.tag),
      el('td', {class: 'mono'}, (b.commit || '').slice(0, 10)),
      el('td', null, timeEl(b.created)),
      el('td', null, b.reason || ''),
      el('td', null, el('a', {href: repoHash(r.repo_name, 'builds/' + encodeURIComponent(b.id)), class: 'build-log-link'}, 'Log')))))));
  return box;
}

async function buildView(r, id, stillCurrent) {
  const box = el('div', {class: 'card', id: 'build'});
  const render = (b) => {
    const dur = b.started && b.finished ? ` in ${b.finished - b.started}s` : '';
    box.replaceChildren(
      el('p', null, el('a', {href: repoHash(r.repo_name, 'builds')}, '← Builds')),
      el('h2', null, `Build ${b.id} `, badge(b.status, b.status)),
      el('p', {class: 'muted'}, `${b.source_type} ${b.ref} → ${r.repo_name}:${b.tag}`, b.commit ? ` @ ${b.commit.slice(0, 12)}` : '', dur, ' · queued ', timeEl(b.created)),
      b.error ? el('p', {class: 'error', id: 'build-error'}, b.error) : null,
      b.digest ? el('p', null, 'Pushed ', el('code', null, b.digest)) : null,
      el('pre', {class: 'log', id: 'build-log'}, b.log || '(no output yet)'));
  };
  const load = () => api('GET', repoApi(r.repo_name, 'builds/' + encodeURIComponent(id)));
  const b = await load();
  render(b);
  // Follow a build that is still going, until it ends or the page changes.
  const live = (s) => ['queued', 'pending', 'running'].includes(s);
  if (live(b.status)) {
    const poll = async () => {
      if (!stillCurrent()) return;
      try {
        const nb = await load();
        if (!stillCurrent()) return;
        render(nb);
        if (live(nb.status)) setTimeout(poll, 2000);
      } catch (e) { /* the next navigation shows errors */ }
    };
    setTimeout(poll, 2000);
  }
  return box;
}

// ---- start -----------------------------------------------------------------

document.getElementById('search-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = document.getElementById('search-input').value.trim();
  location.hash = q ? '#/search?q=' + encodeURIComponent(q) : '#/';
});
window.addEventListener('hashchange', route);
loadMe().then(route);

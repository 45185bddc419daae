// Shared pieces of the interop scripts: parameters, step recording, a recording fetch, a browser.
//
// Every script reads its parameters as JSON from the INTEROP_PARAMS environment variable (secrets
// stay out of argv) and prints exactly one JSON line to stdout: {"steps": {name: result}}, where a
// result is {"ok": true, "value": ...} or {"ok": false, "error": {...}, "exchanges": [...]}.
// A failed step does not stop the script: later steps record their own outcome.
import { createHmac } from 'node:crypto'
import * as client from 'openid-client'

export const params = JSON.parse(process.env.INTEROP_PARAMS ?? '{}')

// -- HTTP exchanges, kept so that a failing step reports the exact provider response ---------------
let exchanges = []

function headersObject(headers) {
  const out = {}
  for (const [name, value] of headers) {
    if (!['date', 'server', 'content-length', 'connection', 'keep-alive'].includes(name)) {
      out[name] = value
    }
  }
  return out
}

function redactBody(body) {
  if (body === undefined || body === null) return null
  return String(body).replace(/(client_secret|password)=[^&]*/g, '$1=<redacted>')
}

export async function recordingFetch(url, options = {}) {
  const response = await fetch(url, options)
  const text = await response.clone().text()
  const headers = headersObject(new Headers(options.headers ?? {}))
  if (headers.authorization?.startsWith('Basic ')) headers.authorization = 'Basic <redacted>'
  exchanges.push({
    request: { method: options.method ?? 'GET', url: String(url), headers, body: redactBody(options.body) },
    response: { status: response.status, headers: headersObject(response.headers), body: text.slice(0, 2000) },
  })
  return response
}

// -- steps ----------------------------------------------------------------------------------------------
export const steps = {}

export function describeError(err) {
  const out = { name: err?.name, message: err?.message }
  for (const key of ['code', 'error', 'error_description', 'status']) {
    if (err?.[key] !== undefined) out[key] = err[key]
  }
  if (err?.cause !== undefined) {
    const cause = err.cause
    if (cause instanceof Error) out.cause = { name: cause.name, message: cause.message, code: cause.code }
    else if (cause instanceof URLSearchParams) out.cause = Object.fromEntries(cause)
    else if (Array.isArray(cause) || typeof cause !== 'object') out.cause = cause
    else out.cause = JSON.parse(JSON.stringify(cause, (k, v) => (v instanceof Response ? undefined : v)))
  }
  return out
}

/** Run one step: record its value, or its error with the HTTP exchanges made meanwhile. */
export async function step(name, fn) {
  exchanges = []
  try {
    const value = await fn()
    steps[name] = { ok: true, value: value ?? null }
    return value
  } catch (err) {
    steps[name] = { ok: false, error: describeError(err), exchanges }
    return undefined
  }
}

export function finish() {
  process.stdout.write(JSON.stringify({ steps }) + '\n')
}

// -- openid-client configuration ------------------------------------------------------------------
export function clientAuth(kind, secret) {
  switch (kind) {
    case 'basic':
      return client.ClientSecretBasic(secret)
    case 'post':
      return client.ClientSecretPost(secret)
    case 'none':
      return client.None()
    default:
      throw new Error(`unknown client authentication ${kind}`)
  }
}

/** openid-client Discovery: fetches and validates the provider's metadata (issuer must match). */
export async function discover({ issuer, client_id, client_secret, auth, metadata = {} }) {
  const config = await client.discovery(new URL(issuer), client_id, metadata, clientAuth(auth, client_secret), {
    [client.customFetch]: recordingFetch,
  })
  config[client.customFetch] = recordingFetch
  return config
}

/**
 * Fresh parameters of a code-flow authorization request (PKCE S256, state, nonce) and the checks
 * openid-client's authorizationCodeGrant makes on the callback with them.
 */
export async function codeRequest({ redirect_uri, scope }) {
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  return {
    parameters: { redirect_uri, scope, code_challenge: await client.calculatePKCECodeChallenge(verifier),
                  code_challenge_method: 'S256', state, nonce },
    checks: { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
  }
}

/** The claims of a compact JWS's protected header (for reporting alg/kid/typ). */
export function jwtHeader(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString())
}

// -- a minimal browser: cookies, manual redirects, the login form -------------------------------------
export class Browser {
  constructor({ login, password, org, totp }) {
    this.login = login
    this.password = password
    this.org = org ?? 'self' // the choice on the organisation page (scope org): a USCC or 'self'
    this.totp = totp // () => a TOTP code, for the second-factor page (/login/mfa); none: not expected
    this.cookies = new Map()
  }

  keepCookies(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((s) => s.trim())
      const index = pair.indexOf('=')
      const name = pair.slice(0, index)
      const value = pair.slice(index + 1)
      const expired = attributes.some((a) => {
        const [key, val = ''] = a.split('=')
        if (key.toLowerCase() === 'max-age') return Number(val) <= 0
        if (key.toLowerCase() === 'expires') return Date.parse(val) <= Date.now()
        return false
      })
      if (expired) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }

  async fetch(url, { method = 'GET', body } = {}) {
    const headers = { accept: 'text/html' }
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    const response = await recordingFetch(url, { method, body, headers, redirect: 'manual' })
    this.keepCookies(response)
    return response
  }

  /**
   * Follow an authorization request like a user agent until the provider redirects to
   * `stopPrefix` (the client's redirect URI): sign in on the login form and allow on the consent
   * page when they are shown. Returns the callback URL and the hops taken ("GET /login -> 200").
   */
  async authorize(url, stopPrefix) {
    const chain = []
    let sawLoginForm = false
    let sawConsent = false
    let sawOrgChooser = false
    let sawSecondFactor = false
    let current = new URL(url)
    let request = {}
    for (let hop = 0; hop < 12; hop++) {
      const response = await this.fetch(current, request)
      chain.push(`${request.method ?? 'GET'} ${current.pathname} -> ${response.status}`)
      if (response.status >= 300 && response.status < 400) {
        const location = new URL(response.headers.get('location'), current)
        if (location.href.startsWith(stopPrefix)) {
          return { callback: location.href, chain, sawLoginForm, sawConsent, sawOrgChooser, sawSecondFactor }
        }
        current = location
        request = {}
        continue
      }
      const html = await response.text()
      const form = html.match(/<form method="post" action="([^"]+)"/)?.[1]
      if (response.status === 200 && !request.method && form === '/login/mfa' && this.totp) {
        sawSecondFactor = true
        current = new URL(form, current)
        request = { method: 'POST', body: new URLSearchParams({ csrf: formField(html, 'csrf'), code: this.totp() }) }
        continue
      }
      const known = ['/login', '/consent', '/authorize/organisation']
      if (response.status === 200 && !request.method && known.includes(form)) {
        const fields = { csrf: formField(html, 'csrf'), return_to: formField(html, 'return_to') }
        if (form === '/authorize/organisation') {
          sawOrgChooser = true
          fields.org = this.org
        } else if (form === '/login') {
          sawLoginForm = true
          Object.assign(fields, { login: this.login, password: this.password })
        } else {
          sawConsent = true
          fields.decision = 'allow'
        }
        current = new URL(form, current)
        request = { method: 'POST', body: new URLSearchParams(fields) }
        continue
      }
      throw new Error(`unexpected ${response.status} at ${current.pathname}: ${html.slice(0, 800)}`)
    }
    throw new Error(`too many redirects: ${chain.join(', ')}`)
  }
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 secret, `offset` steps from now. */
export function totpCode(secret, offset = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const char of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(char).toString(2).padStart(5, '0')
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)))
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + offset))
  const mac = createHmac('sha1', key).update(counter).digest()
  const start = mac[mac.length - 1] & 0x0f
  return String((mac.readUInt32BE(start) & 0x7fffffff) % 1000000).padStart(6, '0')
}

function formField(html, name) {
  const match = html.match(new RegExp(`name="${name}" value="([^"]*)"`))
  if (!match) throw new Error(`form without ${name}: ${html.slice(0, 800)}`)
  return unescapeHtml(match[1])
}

function unescapeHtml(text) {
  return text.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_, entity) => ({
    amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'",
  })[entity])
}

export { client }

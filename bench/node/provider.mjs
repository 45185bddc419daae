// Benchmark anchor for bench/oidc.py: node-oidc-provider in one Node process, in-memory adapter.
// One confidential client (client_credentials, client_secret_basic); client-credentials access tokens
// are RFC 9068 JWTs signed ES256 for a default resource, as Yitong issues them (at+jwt, ES256, 5 min).
// Usage: BENCH_PARAMS='{"port": N, "client_id": "...", "client_secret": "..."}' node provider.mjs
// Prints one line "listening <issuer>" when ready; stops on SIGTERM.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const params = JSON.parse(process.env.BENCH_PARAMS);
const issuer = `http://127.0.0.1:${params.port}`;
const resource = `${issuer}/seal`;
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

const provider = new Provider(issuer, {
  jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' }] },
  clients: [{
    client_id: params.client_id,
    client_secret: params.client_secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'seal:read',
    id_token_signed_response_alg: 'ES256',  // the default, RS256, has no key here
  }],
  scopes: ['seal:read'],
  ttl: { ClientCredentials: 300 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== resource) throw new Provider.errors.InvalidTarget();
        return { scope: 'seal:read', audience: resource, accessTokenFormat: 'jwt', accessTokenTTL: 300,
                 jwt: { sign: { alg: 'ES256' } } };
      },
    },
  },
});

const server = provider.listen(params.port, '127.0.0.1', () => console.log(`listening ${issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));

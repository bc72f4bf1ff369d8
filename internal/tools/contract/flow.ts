// flow.ts is what an integrator writes against otpatch's API with a client generated from its
// OpenAPI document (openapi-typescript makes schema.d.ts from it; openapi-fetch calls it). The
// contract test type-checks it against the document the server serves and runs it:
//
//	node flow.js BASE_URL TOKEN
//
// It lists the campaigns page by page, reads the first one, asks for one that does not exist,
// and prints what it saw as one JSON line.
import createClient from "openapi-fetch";
import type { paths, components } from "./schema.js";

type Campaign = components["schemas"]["Campaign"];

const [base, token] = process.argv.slice(2);
if (!base || !token) {
  console.error("usage: node flow.js BASE_URL TOKEN");
  process.exit(2);
}
const client = createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${token}` } });

const campaigns: { id: string; name: string; status: string }[] = [];
let after: string | undefined;
let pages = 0;
for (;;) {
  const { data, error } = await client.GET("/api/v1/campaigns", { params: { query: { limit: 1, after } } });
  if (error) throw new Error(`listing campaigns: ${error.status} ${error.detail ?? error.title}`);
  pages++;
  for (const c of data.items) campaigns.push({ id: c.id, name: c.name, status: c.status });
  if (!data.next) break;
  after = data.next;
}
if (campaigns.length === 0) throw new Error("no campaigns");

const first = campaigns[0]!;
const one = await client.GET("/api/v1/campaigns/{campaignID}", { params: { path: { campaignID: first.id } } });
if (one.error) throw new Error(`reading ${first.id}: ${one.error.status} ${one.error.detail ?? ""}`);
const campaign: Campaign = one.data;

const missing = await client.GET("/api/v1/campaigns/{campaignID}", { params: { path: { campaignID: "cmp_does_not_exist" } } });

console.log(JSON.stringify({
  pages,
  campaigns: campaigns.map((c) => c.id),
  read: { id: campaign.id, name: campaign.name, status: campaign.status, patch_id: campaign.patch_id },
  missing: { status: missing.response.status, type: missing.error?.type },
}));

-- Rows for `gate --rehearse --sample` (tests/cli/rehearse_sample.rs) on a v2.26.0 schema
-- (migration 362) built from Coder's real SQL: foreign-key consistent, a few thousand users,
-- tens of thousands of API keys, and rows in every table the v2.27.0 batch reads or writes.
-- One user's email and its API keys' ids carry planted text (`plnt7f3a`) that must never
-- reach migtag's output. Deterministic (no random()).
SET synchronous_commit = off;
INSERT INTO users (id, email, username, hashed_password, created_at, updated_at, login_type)
SELECT md5('user' || g)::uuid, 'user' || g || '@example.com', 'user' || g, '\x00', now(), now(), 'password'
  FROM generate_series(1, 3000) g;
INSERT INTO users (id, email, username, hashed_password, created_at, updated_at, login_type)
VALUES (md5('planted')::uuid, 'plnt7f3a-owner@example.invalid', 'plnt7f3a', '\x00', now(), now(), 'password');
INSERT INTO organization_members (user_id, organization_id, created_at, updated_at)
SELECT u.id, o.id, now(), now() FROM users u CROSS JOIN (SELECT id FROM organizations LIMIT 1) o ON CONFLICT DO NOTHING;
-- Templates and their versions (each version has its import job).
INSERT INTO provisioner_jobs (id, created_at, updated_at, organization_id, initiator_id, provisioner, storage_method, type, input, file_id)
SELECT md5('tvjob' || g)::uuid, now(), now(), o.id, md5('user' || (g % 3000 + 1))::uuid, 'terraform', 'file', 'template_version_import', '{}', md5('file' || g)::uuid
  FROM generate_series(1, 40) g CROSS JOIN (SELECT id FROM organizations LIMIT 1) o;
INSERT INTO templates (id, created_at, updated_at, organization_id, name, provisioner, active_version_id, created_by)
SELECT md5('tmpl' || g)::uuid, now(), now(), o.id, 'template' || g, 'terraform', md5('tv' || (2 * g))::uuid, md5('user' || g)::uuid
  FROM generate_series(1, 20) g CROSS JOIN (SELECT id FROM organizations LIMIT 1) o;
INSERT INTO template_versions (id, template_id, organization_id, created_at, updated_at, name, readme, job_id, created_by)
SELECT md5('tv' || g)::uuid, md5('tmpl' || ((g + 1) / 2))::uuid, o.id, now(), now(), 'v' || g, '', md5('tvjob' || g)::uuid, md5('user' || g)::uuid
  FROM generate_series(1, 40) g CROSS JOIN (SELECT id FROM organizations LIMIT 1) o;
-- Workspaces for half the users, two builds each, a job, a resource and an agent per build;
-- every tenth agent has a parent agent (workspace_agents references itself).
INSERT INTO workspaces (id, created_at, updated_at, owner_id, organization_id, template_id, name)
SELECT md5('ws' || g)::uuid, now(), now(), md5('user' || g)::uuid, o.id, md5('tmpl' || (g % 20 + 1))::uuid, 'ws' || g
  FROM generate_series(1, 1500) g CROSS JOIN (SELECT id FROM organizations LIMIT 1) o;
INSERT INTO provisioner_jobs (id, created_at, updated_at, organization_id, initiator_id, provisioner, storage_method, type, input, file_id)
SELECT md5('bjob' || g)::uuid, now(), now(), o.id, md5('user' || ((g + 1) / 2))::uuid, 'terraform', 'file', 'workspace_build', '{}', md5('file' || g)::uuid
  FROM generate_series(1, 3000) g CROSS JOIN (SELECT id FROM organizations LIMIT 1) o;
INSERT INTO workspace_builds (id, created_at, updated_at, workspace_id, template_version_id, build_number, transition, initiator_id, job_id)
SELECT md5('build' || g)::uuid, now(), now(), md5('ws' || ((g + 1) / 2))::uuid, md5('tv' || (((g + 1) / 2) % 20 * 2 + 2))::uuid,
       2 - g % 2, 'start', md5('user' || ((g + 1) / 2))::uuid, md5('bjob' || g)::uuid
  FROM generate_series(1, 3000) g;
INSERT INTO workspace_resources (id, created_at, job_id, transition, type, name)
SELECT md5('res' || g)::uuid, now(), md5('bjob' || g)::uuid, 'start', 'docker_container', 'main'
  FROM generate_series(1, 3000) g;
INSERT INTO workspace_agents (id, created_at, updated_at, name, resource_id, auth_token, architecture, operating_system)
SELECT md5('agent' || g)::uuid, now(), now(), 'main', md5('res' || g)::uuid, md5('token' || g)::uuid, 'amd64', 'linux'
  FROM generate_series(1, 3000) g;
INSERT INTO workspace_agents (id, created_at, updated_at, name, resource_id, auth_token, architecture, operating_system, parent_id)
SELECT md5('subagent' || g)::uuid, now(), now(), 'sub', md5('res' || g)::uuid, md5('subtoken' || g)::uuid, 'amd64', 'linux', md5('agent' || g)::uuid
  FROM generate_series(10, 3000, 10) g;
INSERT INTO workspace_apps (id, created_at, agent_id, display_name, icon, slug)
SELECT md5('app' || g)::uuid, now(), md5('agent' || g)::uuid, 'code-server', '', 'code-server'
  FROM generate_series(1, 3000) g;
-- API keys: ten per user, and the planted user's 300.
INSERT INTO api_keys (id, hashed_secret, user_id, last_used, expires_at, created_at, updated_at, login_type, scope, token_name)
SELECT substr(md5('key' || g), 1, 10), sha256(('secret' || g)::bytea), md5('user' || (g % 3000 + 1))::uuid, now(), now() + interval '7 days', now(), now(), 'password', 'all', 'token' || g
  FROM generate_series(1, 30000) g;
INSERT INTO api_keys (id, hashed_secret, user_id, last_used, expires_at, created_at, updated_at, login_type, scope, token_name)
SELECT 'plnt7f3a' || lpad(g::text, 4, '0'), convert_to('plnt7f3a-secret-' || g, 'UTF8'), md5('planted')::uuid, now(), now() + interval '7 days', now(), now(), 'token', 'all', 'plnt7f3a-token-' || g
  FROM generate_series(1, 300) g;
INSERT INTO connection_logs (id, connect_time, organization_id, workspace_owner_id, workspace_id, workspace_name, agent_name, type, ip)
SELECT md5('conn' || g)::uuid, now(), o.id, md5('user' || (g % 1500 + 1))::uuid, md5('ws' || (g % 1500 + 1))::uuid, 'ws', 'main', 'ssh', '127.0.0.1'
  FROM generate_series(1, 6000) g CROSS JOIN (SELECT id FROM organizations LIMIT 1) o;
ANALYZE;

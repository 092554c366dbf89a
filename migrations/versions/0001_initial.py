"""Initial schema: accounts, Oura connections, collection cursors, one table per Oura data type,
daily trends, login throttling and OAuth state.
"""

from alembic import op

revision, down_revision = "0001", None
branch_labels = depends_on = None

# Typed columns per data type: what the API filters on and what the dashboards chart. The full
# document is always kept in `document` (jsonb, lz4-compressed: sample series dominate its size).
# Frozen here on purpose: a migration must not change when application code changes later.
TYPED_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "daily_sleep": [("score", "integer")],
    "sleep": [
        ("period", "integer"),
        ("sleep_type", "text"),
        ("bedtime_start", "timestamptz"),
        ("bedtime_end", "timestamptz"),
        ("time_in_bed", "integer"),
        ("total_sleep_duration", "integer"),
        ("deep_sleep_duration", "integer"),
        ("light_sleep_duration", "integer"),
        ("rem_sleep_duration", "integer"),
        ("awake_time", "integer"),
        ("efficiency", "integer"),
        ("latency", "integer"),
        ("average_hrv", "double precision"),
        ("average_heart_rate", "double precision"),
        ("lowest_heart_rate", "integer"),
        ("average_breath", "double precision"),
        ("readiness_score", "integer"),
        ("temperature_deviation", "double precision"),
    ],
    "daily_activity": [
        ("score", "integer"),
        ("steps", "integer"),
        ("active_calories", "integer"),
        ("total_calories", "integer"),
        ("equivalent_walking_distance", "integer"),
        ("high_activity_time", "integer"),
        ("medium_activity_time", "integer"),
        ("low_activity_time", "integer"),
        ("sedentary_time", "integer"),
        ("resting_time", "integer"),
        ("non_wear_time", "integer"),
        ("inactivity_alerts", "integer"),
        ("average_met_minutes", "double precision"),
    ],
    "daily_readiness": [
        ("score", "integer"),
        ("temperature_deviation", "double precision"),
        ("temperature_trend_deviation", "double precision"),
    ],
    "heartrate": [
        ("sample_count", "integer"),
        ("bpm_min", "integer"),
        ("bpm_max", "integer"),
        ("bpm_avg", "double precision"),
    ],
    "daily_spo2": [
        ("spo2_average", "double precision"),
        ("breathing_disturbance_index", "integer"),
    ],
    "daily_stress": [
        ("stress_high", "integer"),
        ("recovery_high", "integer"),
        ("day_summary", "text"),
    ],
    "daily_resilience": [
        ("level", "text"),
        ("sleep_recovery", "double precision"),
        ("daytime_recovery", "double precision"),
        ("stress", "double precision"),
    ],
    "daily_cardiovascular_age": [
        ("vascular_age", "integer"),
        ("pulse_wave_velocity", "double precision"),
    ],
    "vo2_max": [("vo2_max", "double precision")],
    "workout": [
        ("activity", "text"),
        ("intensity", "text"),
        ("calories", "double precision"),
        ("distance", "double precision"),
        ("start_datetime", "timestamptz"),
        ("end_datetime", "timestamptz"),
    ],
    "session": [
        ("session_type", "text"),
        ("mood", "text"),
        ("start_datetime", "timestamptz"),
        ("end_datetime", "timestamptz"),
    ],
    "enhanced_tag": [
        ("tag_type_code", "text"),
        ("start_time", "timestamptz"),
        ("end_time", "timestamptz"),
    ],
    "sleep_time": [("recommendation", "text"), ("status", "text")],
    "rest_mode_period": [
        ("start_time", "timestamptz"),
        ("end_time", "timestamptz"),
        ("end_day", "date"),
    ],
    "ring_configuration": [
        ("hardware_type", "text"),
        ("color", "text"),
        ("design", "text"),
        ("firmware_version", "text"),
        ("size", "integer"),
        ("set_up_at", "timestamptz"),
    ],
    "personal_info": [
        ("age", "integer"),
        ("weight", "double precision"),
        ("height", "double precision"),
        ("biological_sex", "text"),
    ],
}

CORE = """
CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL,
    username      text,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username)) WHERE username IS NOT NULL;

-- One Oura connection per user. Tokens are Fernet ciphertexts (key rotation: MultiFernet).
CREATE TABLE oauth_tokens (
    user_id                  uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    oura_user_id             text,
    access_token_ciphertext  bytea NOT NULL,
    refresh_token_ciphertext bytea,
    expires_at               timestamptz NOT NULL,
    scopes                   text[] NOT NULL DEFAULT '{}',
    status                   text NOT NULL DEFAULT 'active'
                             CHECK (status IN ('active', 'needs_reauth', 'revoked')),
    refresh_failures         integer NOT NULL DEFAULT 0,
    last_refreshed_at        timestamptz,
    last_error               text,
    connected_at             timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_tokens_status_idx ON oauth_tokens (status);

-- Per user and data type: how far collection got, what history is covered, and its health.
CREATE TABLE collection_cursors (
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    data_type       text NOT NULL,
    cursor_day      date,
    covered         datemultirange NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'ok'
                    CHECK (status IN ('ok', 'failed', 'not_granted')),
    last_success_at timestamptz,
    last_attempt_at timestamptz,
    last_error      text,
    documents_total bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, data_type)
);

-- Single-use, expiring OAuth `state` values bound to the user who started the flow.
CREATE TABLE oauth_states (
    nonce      text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- Login throttling shared by every gateway replica: one row per account or client address.
CREATE TABLE auth_throttle (
    scope            text NOT NULL CHECK (scope IN ('account', 'address')),
    key              text NOT NULL,
    failures         integer NOT NULL DEFAULT 0,
    window_started   timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    PRIMARY KEY (scope, key)
);

CREATE TABLE daily_trends (
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    metric          text NOT NULL,
    day             date NOT NULL,
    value           double precision,
    mean_7d         double precision,
    mean_28d        double precision,
    baseline        double precision,
    baseline_spread double precision,
    deviation       double precision,
    direction       text,
    flag            boolean NOT NULL DEFAULT false,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, metric, day)
);
CREATE INDEX daily_trends_flag_idx ON daily_trends (user_id, day) WHERE flag;
"""

DOCUMENT_TABLE = """
CREATE TABLE {table} (
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id           text NOT NULL,
    day          date,
{typed}
    document     jsonb COMPRESSION lz4 NOT NULL,
    content_hash bytea NOT NULL,
    fetched_at   timestamptz NOT NULL,
    written_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, id)
);
CREATE INDEX {table}_user_day_idx ON {table} (user_id, day);
"""

GRANT_READER = """
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'grafana_reader') THEN
        GRANT USAGE ON SCHEMA public TO grafana_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana_reader;
        -- Secrets and password hashes stay out of the dashboards' reach.
        REVOKE SELECT ON users, oauth_tokens, oauth_states, auth_throttle FROM grafana_reader;
        GRANT SELECT (id, email, username, created_at) ON users TO grafana_reader;
    END IF;
END $$;
"""


def upgrade() -> None:
    op.execute(CORE)
    for table, columns in TYPED_COLUMNS.items():
        typed = "".join(f"    {name} {kind},\n" for name, kind in columns)
        op.execute(DOCUMENT_TABLE.format(table=table, typed=typed.rstrip("\n")))
    op.execute(GRANT_READER)


def downgrade() -> None:
    for table in reversed(list(TYPED_COLUMNS)):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    for table in (
        "daily_trends",
        "auth_throttle",
        "oauth_states",
        "collection_cursors",
        "oauth_tokens",
        "users",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")

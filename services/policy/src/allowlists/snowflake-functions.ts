/**
 * Snowflake functions, classified. Names are lower case; a name ending in `*` is a prefix (`system$*`).
 *
 * - `scalar`, `aggregate`, `window`: computed from their arguments only.
 * - `set_returning`: table functions (`FLATTEN`, `GENERATOR`, `SPLIT_TO_TABLE`): their arguments decide how many rows
 *   come back, so the analyser counts every argument as a use of its source columns (the inference guard applies).
 * - `reads_relations`: reads something other than the statement's own tables (another statement's result, query
 *   history, metadata of other sessions): refused.
 * - `sql_from_text`: runs SQL held in a string, which the analyser cannot see: refused.
 * - `side_effects`: changes state or talks to the outside (system functions, tasks, stages, external functions): refused.
 * - `nondeterministic`: pure but volatile (`RANDOM`, `UUID_STRING`, `SEQ4`): allowed, they carry no data.
 */
export type SnowflakeFunctionClass =
  | 'scalar'
  | 'aggregate'
  | 'window'
  | 'set_returning'
  | 'nondeterministic'
  | 'reads_relations'
  | 'sql_from_text'
  | 'side_effects';

const of = (cls: SnowflakeFunctionClass, names: string): Record<string, SnowflakeFunctionClass> =>
  Object.fromEntries(
    names
      .split(/\s+/)
      .filter((n) => n !== '')
      .map((n) => [n, cls]),
  );

export const SNOWFLAKE_FUNCTIONS: Readonly<Record<string, SnowflakeFunctionClass>> = Object.freeze({
  // strings
  ...of(
    'scalar',
    `ascii base64_decode_string base64_encode bit_length char chr charindex collate collation compress concat concat_ws
     contains decompress_string editdistance endswith hex_decode_string hex_encode ilike initcap insert jarowinkler_similarity
     left len length like lower lpad ltrim md5 md5_hex md5_binary octet_length parse_ip position regexp_count regexp_instr
     regexp_like regexp_replace regexp_substr regexp_substr_all repeat replace reverse right rlike rpad rtrim sha1 sha1_hex
     sha2 sha2_hex soundex space split split_part startswith strtok strtok_to_array substr substring translate trim
     unicode upper uuid_string_v5 sha1_binary sha2_binary hash to_char to_varchar try_base64_decode_string
     try_hex_decode_string base64_decode_binary hex_decode_binary try_base64_decode_binary try_hex_decode_binary
     parse_url sha2_binary strtok_to_array regexp_extract_all identifier`,
  ),
  // numbers
  ...of(
    'scalar',
    `abs acos acosh asin asinh atan atan2 atanh bitand bitnot bitor bitshiftleft bitshiftright bitxor cbrt ceil cos cosh
     cot degrees div0 div0null exp factorial floor ln log mod pi pow power radians round sign sin sinh sqrt square tan
     tanh trunc truncate width_bucket`,
  ),
  // dates and times
  ...of(
    'scalar',
    `add_months convert_timezone current_date current_time current_timestamp date_from_parts date_part date_trunc dateadd
     datediff day dayname dayofmonth dayofweek dayofweekiso dayofyear extract getdate hour last_day localtime
     localtimestamp minute month monthname months_between next_day previous_day quarter second sysdate systimestamp
     time_from_parts time_slice timeadd timediff timestamp_from_parts timestamp_ltz_from_parts timestamp_ntz_from_parts
     timestamp_tz_from_parts timestampadd timestampdiff week weekiso weekofyear year yearofweek yearofweekiso`,
  ),
  // conversion
  ...of(
    'scalar',
    `cast try_cast to_array to_binary to_boolean to_date to_decimal to_double to_geography to_geometry to_json to_number
     to_numeric to_object to_time to_timestamp to_timestamp_ltz to_timestamp_ntz to_timestamp_tz to_variant to_xml
     try_to_binary try_to_boolean try_to_date try_to_decimal try_to_double try_to_number try_to_numeric try_to_time
     try_to_timestamp try_to_timestamp_ltz try_to_timestamp_ntz try_to_timestamp_tz date time timestamp`,
  ),
  // semi-structured
  ...of(
    'scalar',
    `array_append array_cat array_compact array_construct array_construct_compact array_contains array_distinct
     array_except array_flatten array_generate_range array_insert array_intersection array_max array_min array_position
     array_prepend array_remove array_remove_at array_reverse array_size array_slice array_sort array_to_string
     arrays_overlap as_array as_binary as_boolean as_char as_date as_decimal as_double as_integer as_number as_object
     as_real as_time as_timestamp_ltz as_timestamp_ntz as_timestamp_tz as_varchar check_json check_xml get get_ignore_case
     get_path is_array is_binary is_boolean is_char is_date is_decimal is_double is_integer is_null_value is_object
     is_real is_time is_timestamp_ltz is_timestamp_ntz is_timestamp_tz is_varchar json_extract_path_text object_construct
     object_construct_keep_null object_delete object_insert object_keys object_pick parse_json parse_xml
     strip_null_value try_parse_json typeof xmlget`,
  ),
  // conditional
  ...of(
    'scalar',
    `coalesce decode equal_null greatest iff ifnull least nullif nullifzero nvl nvl2 zeroifnull booland boolor boolnot
     boolxor is_null`,
  ),
  // context (the lease's own session)
  ...of(
    'scalar',
    `current_account current_client current_database current_region current_role current_schema current_schemas
     current_session current_statement current_user current_version current_warehouse last_query_id`,
  ),
  ...of(
    'aggregate',
    `any_value approx_count_distinct approx_percentile approx_top_k array_agg array_union_agg avg bitand_agg bitor_agg
     bitxor_agg booland_agg boolor_agg boolxor_agg corr count count_if covar_pop covar_samp hash_agg kurtosis listagg
     max max_by median min min_by mode object_agg percentile_cont percentile_disc regr_avgx regr_avgy regr_count
     regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy skew stddev stddev_pop stddev_samp sum var_pop
     var_samp variance variance_pop variance_samp grouping grouping_id array_unique_agg object_agg
     hll`,
  ),
  ...of(
    'window',
    `conditional_change_event conditional_true_event cume_dist dense_rank first_value lag last_value lead nth_value ntile
     percent_rank rank ratio_to_report row_number`,
  ),
  ...of('set_returning', 'flatten generator split_to_table strtok_split_to_table'),
  ...of('nondeterministic', 'random randstr seq1 seq2 seq4 seq8 uniform normal zipf uuid_string'),
  ...of(
    'reads_relations',
    `result_scan query_history query_history_by_session query_history_by_user query_history_by_warehouse
     login_history login_history_by_user task_history copy_history get_ddl get_object_references
     information_schema.query_history information_schema.query_history_by_session information_schema.query_history_by_user
     information_schema.login_history information_schema.task_history information_schema.copy_history`,
  ),
  ...of('sql_from_text', 'execute immediate system$explain_plan_json explain_json'),
  ...of('side_effects', 'system$* sys_context extract_semantic_categories get_presigned_url build_scoped_file_url build_stage_file_url'),
});

/**
 * How a function's arguments steer what the agent observes beyond the value itself: which arguments decide a branch
 * (`condition`) or may raise an error on a bad value (`error`). Each listed argument is a use of its source columns,
 * refused on a masked column like a WHERE condition; `'all'` means every argument.
 *
 * - condition: `IFF`'s condition, `NVL2`'s tested value, `DECODE`'s subject and search values, the `COALESCE` family
 *   (which argument wins depends on the values), `TRY_*` (a value or NULL depending on the value);
 * - error: conversions that raise on a value they cannot read (`TO_NUMBER('275-10-5481')` names the value and fails
 *   only for some rows), functions undefined for some inputs (`SQRT`, `LN`, `LOG`, `ACOS`, …), and sizes (`REPEAT`,
 *   `LPAD`) that fail only for large values.
 */
export interface ValueSteering {
  clause: 'condition' | 'error';
  args: 'all' | readonly number[];
}

const steer = (clause: ValueSteering['clause'], names: string): Record<string, ValueSteering> =>
  Object.fromEntries(
    names
      .split(/\s+/)
      .filter((n) => n !== '')
      .map((n) => [n, { clause, args: 'all' as const }]),
  );

export const SNOWFLAKE_VALUE_STEERING: Readonly<Record<string, ValueSteering>> = Object.freeze({
  ...steer(
    'condition',
    `decode coalesce nvl ifnull zeroifnull nullifzero nullif equal_null greatest least try_to_number try_to_numeric
     try_to_decimal try_to_double try_to_date try_to_time try_to_timestamp try_to_timestamp_ltz try_to_timestamp_ntz
     try_to_timestamp_tz try_to_boolean try_to_binary try_parse_json try_base64_decode_string try_hex_decode_string
     check_json check_xml`,
  ),
  iff: { clause: 'condition', args: [0] },
  // a regular expression built from a value fails to compile for some values (`'[' || c || '-5]'` when c > '5'), and
  // positions, occurrences and parameters fail when out of range; only the subject is total
  ...Object.fromEntries(
    ['regexp_substr', 'regexp_substr_all', 'regexp_like', 'rlike', 'regexp_instr', 'regexp_count', 'regexp_replace', 'regexp_extract_all'].map((n) => [
      n,
      { clause: 'error' as const, args: [1, 2, 3, 4, 5, 6, 7] },
    ]),
  ),
  nvl2: { clause: 'condition', args: [0] },
  ...steer(
    'error',
    `to_number to_numeric to_decimal to_double to_date to_time to_timestamp to_timestamp_ltz to_timestamp_ntz
     to_timestamp_tz to_boolean to_binary to_object to_array to_geography to_geometry to_xml parse_json parse_xml
     base64_decode_string hex_decode_string date time timestamp sqrt ln log acos asin acosh atanh factorial pow power mod
     div0 div0null date_from_parts time_from_parts timestamp_from_parts dateadd timeadd timestampadd repeat space lpad
     rpad array_generate_range randstr`,
  ),
});

/** The class of a Snowflake function by its lower-case name (schema-qualified or bare), or undefined when unknown. */
export function snowflakeFunctionClass(name: string): SnowflakeFunctionClass | undefined {
  const lower = name.toLowerCase();
  const bare = lower.slice(lower.lastIndexOf('.') + 1);
  const direct = SNOWFLAKE_FUNCTIONS[lower] ?? SNOWFLAKE_FUNCTIONS[bare];
  if (direct) return direct;
  for (const [pattern, cls] of Object.entries(SNOWFLAKE_FUNCTIONS)) {
    if (pattern.endsWith('*') && (lower.startsWith(pattern.slice(0, -1)) || bare.startsWith(pattern.slice(0, -1)))) return cls;
  }
  return undefined;
}

/**
 * Functions that cannot raise an error whatever value reaches the listed argument positions (0-based; `all` for every
 * argument). Any other argument of a scalar, aggregate or window function that `SNOWFLAKE_VALUE_STEERING` does not
 * already classify is a use of clause `error`: a masked value reaching it could tell itself by failing
 * (`OBJECT_CONSTRUCT(substr(ssn, 1, 1), 1, '1', 2)` fails on a duplicate key exactly when the first digit is 1,
 * `BASE64_DECODE_BINARY`, `PARSE_URL`, `CONVERT_TIMEZONE`, `GET_PATH` fail on values they cannot read, and numeric and
 * date functions cast a text argument implicitly). Text functions are listed: any value converts to text.
 */
export const SNOWFLAKE_TOTAL_ARGS: ReadonlyMap<string, 'all' | readonly number[]> = new Map<string, 'all' | readonly number[]>([
  ...`base64_encode bit_length charindex concat concat_ws contains endswith hex_encode initcap left right len length lower
    upper ltrim rtrim trim md5 md5_hex md5_binary octet_length position replace reverse sha1 sha1_hex sha1_binary soundex
    split split_part startswith strtok strtok_to_array substr substring translate hash editdistance
    jarowinkler_similarity array_construct array_construct_compact array_append array_prepend array_cat array_compact
    array_contains array_distinct array_except array_intersection arrays_overlap array_position array_size
    array_to_string array_max array_min array_reverse object_keys object_delete object_pick to_variant to_json typeof
    is_array is_binary is_boolean is_char is_date is_decimal is_double is_integer is_null_value is_object is_real is_time
    is_timestamp_ltz is_timestamp_ntz is_timestamp_tz is_varchar strip_null_value count count_if min max any_value
    array_agg array_unique_agg listagg hash_agg approx_count_distinct min_by max_by mode row_number rank dense_rank
    percent_rank cume_dist grouping grouping_id current_account current_client current_database current_region
    current_role current_schema current_schemas current_session current_statement current_user current_version
    current_warehouse collation`
    .split(/\s+/)
    .filter((n) => n !== '')
    .map((n): [string, 'all'] => [n, 'all']),
  ['ascii', [0]],
  ['unicode', [0]],
  ['sha2', [0]],
  ['sha2_hex', [0]],
  ['sha2_binary', [0]],
  ['to_char', [0]],
  ['to_varchar', [0]],
  ['collate', [0]],
  ['like', [0]],
  ['ilike', [0]],
  ['array_sort', [0]],
  ['get', [0]],
  ['get_ignore_case', [0]],
  ['get_path', [0]],
  ['approx_top_k', [0]],
  ['first_value', [0]],
  ['last_value', [0]],
  ['nth_value', [0]],
  ['lag', [0, 2]],
  ['lead', [0, 2]],
  ['conditional_change_event', [0]],
  // keys must be distinct and not NULL; values may be anything
  ...['object_construct', 'object_construct_keep_null'].map((n): [string, number[]] => [n, Array.from({ length: 50 }, (_, i) => 2 * i + 1)]),
]);

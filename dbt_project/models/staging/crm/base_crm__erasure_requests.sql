{{ config(materialized="table") }}  -- the one scan of the raw files: stg_ views, tests and quarantine read this table
-- Every erasure request row, typed, with the reason it cannot be used (null = usable). Erasures are final: a usable
-- request an earlier build read is kept while the landing zone no longer holds one for that customer (its part file
-- deleted by a retention rule, moved, or rewritten without the row), in a full refresh too; only a regenerated
-- landing zone (`holdout generate`, var landing_zone_replaced) starts over. On DuckDB only: Spark rebuilds the
-- table from the landing zone (README "Running on Spark").
{%- set previous = adapter.get_relation(this.database, this.schema, this.identifier) if execute else none %}
{%- set keep_previous = previous is not none and target.type == 'duckdb' and not var('landing_zone_replaced', false) %}
with

source as (

    select * from {{ raw_source('crm', 'erasure_requests') }}

),

typed as (

    select
        upper(trim(customer_id)) as customer_id,
        {{ to_utc_timestamp('requested_at') }} as requested_at,
        filename as source_file
    from source

),

final as (

    select
        *,
        case
            when customer_id is null or not {{ is_valid_customer_id('customer_id') }} then 'invalid_customer_id'
        end as rejection_reason
    from typed

),

{%- if keep_previous %}

kept as (

    -- the columns `final` has: a column a later version drops is not carried on by the kept rows
    select customer_id, requested_at, source_file, rejection_reason from {{ previous }}
    where rejection_reason is null
        and customer_id not in (select customer_id from final where rejection_reason is null)

),
{%- endif %}

all_rows as (

    select * from final
    {%- if keep_previous %}
    union all by name
    select * from kept
    {%- endif %}

)

select * from all_rows

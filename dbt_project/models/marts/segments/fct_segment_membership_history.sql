{#
    Segment membership intervals [valid_from, valid_to) that persist across builds (valid_to null = member
    today). Each build restates the as-of date D from today's memberships:
      - an open interval whose member left the segment is closed (valid_to = D);
      - a new member gets an interval opened at D;
      - a rebuild on the same D that changes its mind reopens what it closed and voids what it opened
        (emitted as an empty [D, D) interval and deleted by the post-hook).
    Only changed intervals are emitted, so rebuilding with the same as_of_date and data writes nothing.
    A D earlier than the latest date already recorded is ignored (history never rewinds).
    Customers no longer in dim_customers (erased) lose their history (post-hook).
    How the changes are written (delete+insert on DuckDB, append and restate on Spark): macros/segments/segment_history.sql.
#}
{{
    config(
        materialized='incremental',
        incremental_strategy=segment_history_strategy(),
        unique_key=['customer_id', 'segment_id', 'valid_from'],
        on_schema_change='fail',
        full_refresh=false,
        pre_hook=segment_history_hooks('pre'),
        post_hook=segment_history_hooks('post'),
    )
}}

-- depends_on: {{ ref('dim_customers') }}

with memberships as (

    select * from {{ ref('fct_segment_memberships') }}

),

run_date as (

    select {{ as_of_date() }} as as_of_date

),

{% if is_incremental() %}

history as (

    select * from {{ this }}

),

last_recorded as (

    select max(coalesce(valid_to, valid_from)) as recorded_until
    from history

),

-- customers whose set of open segments differs from today's memberships: only their pairs can change
membership_sets as (

    select
        customer_id,
        {{ segment_set_fingerprint('segment_id') }} as fingerprint
    from memberships
    group by customer_id

),

open_sets as (

    select
        customer_id,
        {{ segment_set_fingerprint('segment_id') }} as fingerprint
    from history
    where valid_to is null
    group by customer_id

),

changed_customers as (

    select coalesce(membership_sets.customer_id, open_sets.customer_id) as customer_id
    from membership_sets
    full outer join open_sets
        on membership_sets.customer_id = open_sets.customer_id
    where membership_sets.fingerprint is null
        or open_sets.fingerprint is null
        or membership_sets.fingerprint <> open_sets.fingerprint

),

changed_memberships as (

    select memberships.*
    from memberships
    inner join changed_customers
        on memberships.customer_id = changed_customers.customer_id

),

-- per pair, the one interval that matters at D: live just before D (closed at D counts: a same-day
-- rebuild may reopen it) or opened at D by an earlier build of the same day
state_at_run_date as (

    select history.*
    from history
    inner join changed_customers
        on history.customer_id = changed_customers.customer_id
    cross join run_date
    where history.valid_from <= run_date.as_of_date
        and (history.valid_to is null or history.valid_to >= run_date.as_of_date)

),

compared as (

    select
        coalesce(state_at_run_date.customer_id, changed_memberships.customer_id) as customer_id,
        coalesce(state_at_run_date.segment_id, changed_memberships.segment_id) as segment_id,
        state_at_run_date.valid_from,
        state_at_run_date.valid_to,
        changed_memberships.customer_id is not null as is_member
    from state_at_run_date
    full outer join changed_memberships
        on state_at_run_date.customer_id = changed_memberships.customer_id
        and state_at_run_date.segment_id = changed_memberships.segment_id

),

changes as (

    select
        compared.customer_id,
        compared.segment_id,
        coalesce(compared.valid_from, run_date.as_of_date) as valid_from,
        case
            -- new member: open at D
            when compared.valid_from is null then cast(null as date)
            -- opened at D by a same-day build but not a member after all: void (deleted by the post-hook)
            when not compared.is_member and compared.valid_from = run_date.as_of_date then run_date.as_of_date
            -- left the segment: close at D
            when not compared.is_member then run_date.as_of_date
            -- closed at D by a same-day build but a member after all: reopen
            else cast(null as date)
        end as valid_to
    from compared
    cross join run_date
    where compared.valid_from is null
        or (not compared.is_member and compared.valid_to is null)
        or (compared.is_member and compared.valid_to is not null)

),

final as (

    select
        changes.customer_id,
        changes.segment_id,
        changes.valid_from,
        changes.valid_to
    from changes
    cross join last_recorded
    cross join run_date
    where last_recorded.recorded_until is null
        or run_date.as_of_date >= last_recorded.recorded_until

)

{% else %}

final as (

    select
        memberships.customer_id,
        memberships.segment_id,
        run_date.as_of_date as valid_from,
        cast(null as date) as valid_to
    from memberships
    cross join run_date

)

{% endif %}

select * from final

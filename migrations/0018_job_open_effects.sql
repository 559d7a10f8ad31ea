-- A job is never dead-lettered while something it did may still happen.
--
-- When a worker dies, lease rescue (queue's rescue_expired) decides in one
-- statement whether an expired job retries or fails for good. A wallet job
-- out of retries may still have a signed or broadcast transfer of its own
-- that can land; failing it then left the ledger and the job disagreeing
-- until an operator retried it. The queue stays generic: it asks this hook
-- whether a job has effects still open, and the hook, defined beside the
-- transfers table, answers from it. Such a job goes back to pending once
-- more, so that its next attempt resolves the transfer by its txID.
CREATE OR REPLACE FUNCTION walletops_job_effects_open(p_job uuid)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM transfers
                    WHERE job_id = p_job AND status IN ('signed', 'broadcast'))
$$;
REVOKE ALL ON FUNCTION walletops_job_effects_open(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION walletops_job_effects_open(uuid)
    TO walletops_admin, walletops_operator, walletops_worker;
